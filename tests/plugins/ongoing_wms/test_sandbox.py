"""The Ongoing WMS simulator: the vendor's documented behaviour, strictly, and the control
surface that plays the warehouse (erpsync_ongoing_wms/sandbox.py)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from erpsync_ongoing_wms.sandbox import OngoingSandbox
from pydantic import SecretStr

from erpsync.conformance.wms import WmsSandbox
from erpsync.http import HttpClient, mount
from erpsync.models import Flow

OWNER = 159
T0 = datetime(2024, 5, 31, 8, 0, tzinfo=UTC)


def data(response: httpx.Response) -> Any:
    """The body, numbers as Decimal (as a client must read them)."""
    return json.loads(response.content, parse_float=Decimal)


def connect(sandbox: OngoingSandbox, username: str | None = None,
            password: str | None = None) -> httpx.AsyncClient:
    settings = sandbox.settings()
    auth = (username or settings["username"], password or settings["password"].get_secret_value())
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=sandbox.app),
                             base_url=sandbox.base_url, auth=auth)


@pytest.fixture
def sandbox() -> OngoingSandbox:
    return OngoingSandbox(warehouse="demowh", page_size=3)


@pytest.fixture
async def api(sandbox: OngoingSandbox) -> AsyncIterator[httpx.AsyncClient]:
    async with connect(sandbox) as client:
        yield client


async def put_article(api: httpx.AsyncClient, number: str, **fields: Any) -> int:
    response = await api.put("/articles", json={"goodsOwnerId": OWNER, "articleNumber": number,
                                                "articleName": f"Article {number}", **fields})
    assert response.status_code == 200, response.text
    ident: int = data(response)["articleSystemId"]
    return ident


def order_body(number: str, lines: list[tuple[str, str, int]], **fields: Any) -> dict[str, Any]:
    """An order with lines (externalId, articleNumber, numberOfItems), rowNumber 1, 2, ..."""
    return {"goodsOwnerId": OWNER, "orderNumber": number, "deliveryDate": "2024-06-03",
            "consignee": {"customerNumber": "CN1", "name": "Testi Oy", "address1": "Katu 1",
                          "postCode": "00100", "city": "Helsinki", "countryCode": "FI"},
            "orderLines": [{"rowNumber": str(n), "externalId": ext, "articleNumber": art,
                            "numberOfItems": qty}
                           for n, (ext, art, qty) in enumerate(lines, 1)], **fields}


def po_body(number: str, lines: list[tuple[str, str, int]], **fields: Any) -> dict[str, Any]:
    return {"goodsOwnerId": OWNER, "purchaseOrderNumber": number,
            "supplierInfo": {"supplierNumber": "S1", "supplierName": "Tukku Oy"},
            "purchaseOrderLines": [{"rowNumber": str(n), "externalOrderLineId": ext,
                                    "articleNumber": art, "numberOfItems": qty}
                                   for n, (ext, art, qty) in enumerate(lines, 1)], **fields}


async def orders_to_report(api: httpx.AsyncClient, **extra: Any) -> list[dict[str, Any]]:
    response = await api.get("/orders", params={"goodsOwnerId": OWNER,
                                                "onlyOrdersWithOrderLinesToReport": "true",
                                                **extra})
    assert response.status_code == 200, response.text
    orders: list[dict[str, Any]] = data(response)
    return orders


# --- the protocol the conformance suite drives ------------------------------------------------


def test_base_url_settings_and_the_conformance_protocol() -> None:
    sandbox: WmsSandbox = OngoingSandbox(warehouse="demowh", page_size=5)
    assert sandbox.base_url == "https://api.ongoingsystems.se/demowh/api/v1"
    settings, bad = sandbox.settings(), sandbox.bad_settings()
    assert set(settings) == {"base_url", "username", "password", "goods_owner_id", "page_size"}
    assert isinstance(settings["password"], SecretStr)
    assert settings["goods_owner_id"] == OWNER and settings["page_size"] == 5
    assert bad["password"].get_secret_value() != settings["password"].get_secret_value()
    assert bad["username"] == settings["username"]


async def test_erpsync_http_mount_reaches_the_app(sandbox: OngoingSandbox) -> None:
    settings = sandbox.settings()
    auth = httpx.BasicAuth(settings["username"], settings["password"].get_secret_value())
    with mount(sandbox.base_url, sandbox.app):
        async with HttpClient(settings["base_url"], vendor="ongoing", auth=auth) as client:
            response = await client.get("/orders/statuses")
    assert response.status_code == 200
    assert {"number": 450, "text": "Sent"} in data(response)["orderStatuses"]


# --- authentication and goods owners ----------------------------------------------------------


async def test_bad_credentials_are_401_with_a_basic_challenge(sandbox: OngoingSandbox) -> None:
    transport = httpx.ASGITransport(app=sandbox.app)
    async with httpx.AsyncClient(transport=transport, base_url=sandbox.base_url) as anonymous:
        response = await anonymous.get("/orders/statuses")
        assert response.status_code == 401
        assert response.headers["www-authenticate"].startswith("Basic")
        assert "message" in data(response)
        garbled = await anonymous.get("/orders/statuses",
                                      headers={"Authorization": "Basic not-base64!"})
        assert garbled.status_code == 401
    async with connect(sandbox, password="wrong") as wrong:
        assert (await wrong.get("/orders/statuses")).status_code == 401
    async with connect(sandbox, username="nobody") as unknown:
        assert (await unknown.get("/orders/statuses")).status_code == 401


async def test_another_goods_owners_data_is_403(sandbox: OngoingSandbox,
                                                api: httpx.AsyncClient) -> None:
    sandbox.add_user("other", "other-password", 777)
    article = await put_article(api, "A1")
    async with connect(sandbox, "other", "other-password") as other:
        assert (await other.get(f"/articles/{article}")).status_code == 403
        assert (await other.get("/articles", params={"goodsOwnerId": OWNER})).status_code == 403
        put = await other.put("/articles", json={"goodsOwnerId": OWNER, "articleNumber": "X"})
        assert put.status_code == 403
        own = await other.get("/articles", params={"goodsOwnerId": 777})
        assert own.status_code == 200 and data(own) == []
    assert sandbox.count(Flow.ARTICLES) == 1
    assert sandbox.count(Flow.ARTICLES, goods_owner_id=777) == 0


# --- articles ---------------------------------------------------------------------------------


async def test_article_upsert_by_number_keeps_a_stable_id(sandbox: OngoingSandbox,
                                                          api: httpx.AsyncClient) -> None:
    # the vendor's "with many additional fields" example: numbers as strings
    example = {"productCode": "ProductCode1", "unitCode": "St",
               "supplierInfo": {"supplierArticleNumber": "ArticleNumberAtSupplier1",
                                "supplierNumber": "Supplier1", "supplierName": "Supplier Inc."},
               "barCodeInfo": {"barCode": "700123456"}, "quantityPerPackage": "10",
               "weight": "1.5", "purchasePrice": "10", "purcaseCurrencyCode": "EUR",
               "articleGroup": {"code": "G1", "name": "Group 1"},
               "structureDefinition": None}
    first = await api.put("/articles", json={"goodsOwnerId": OWNER, "articleNumber": "A1",
                                             "articleName": "Kahvi", **example})
    assert first.status_code == 200
    assert "Supplier Supplier1 Supplier Inc. Created" in data(first)["message"]
    again = await api.put("/articles", json={"goodsOwnerId": OWNER, "articleNumber": "A1",
                                             "articleName": "Kahvi 1 kg"})
    assert data(again)["articleSystemId"] == data(first)["articleSystemId"]
    assert "Supplier" not in data(again)["message"]
    assert sandbox.count(Flow.ARTICLES) == 1 and sandbox.count(Flow.SUPPLIERS) == 1
    found = await api.get("/articles", params={"goodsOwnerId": OWNER, "articleNumber": "A1"})
    (article,) = data(found)
    assert article["articleSystemId"] == data(first)["articleSystemId"]
    assert article["articleName"] == "Kahvi 1 kg"  # changed
    assert article["barCodeInfo"]["barCode"] == "700123456"  # absent in the update: kept
    assert article["weight"] == Decimal("1.5") and article["quantityPerPackage"] == 10
    assert article["unitCode"] == "st"
    assert '"purchasePrice":10.0' in found.text and '"weight":1.5' in found.text
    assert article["inventoryInfo"]["sellableNumberOfItems"] == 0
    by_id = await api.get(f"/articles/{article['articleSystemId']}")
    assert data(by_id)["articleNumber"] == "A1"
    assert (await api.get("/articles/999999")).status_code == 404


@pytest.mark.parametrize(("change", "complaint"), [
    ({"purchaseCurrencyCode": "EUR"}, "purchaseCurrencyCode is not a field"),
    ({"weight": "1,5"}, "weight must be a number"),
    ({"isStockArticle": "true"}, "isStockArticle must be true or false"),
    ({"articleNumber": None}, "articleNumber is required"),
    ({"articleNumber": ""}, "articleNumber must not be empty"),
    ({"quantityPerPackage": 1.5}, "quantityPerPackage must be a whole number"),
    ({"structureDefinition": {"articleKind": "Kit", "rows": [{"articleNumber": "B"}]}},
     "structureDefinition.articleKind='Kit' is not one of Structure, Production"),
])
async def test_an_invalid_article_is_400_naming_the_field(api: httpx.AsyncClient,
                                                          change: dict[str, Any],
                                                          complaint: str) -> None:
    body = {"goodsOwnerId": OWNER, "articleNumber": "A1", "articleName": "x"} | change
    response = await api.put("/articles", json=body)
    assert response.status_code == 400
    assert complaint in data(response)["message"]


async def test_bodies_must_be_clean_json(api: httpx.AsyncClient) -> None:
    headers = {"Content-Type": "application/json"}
    duplicate = b'{"goodsOwnerId": 159, "articleNumber": "A", "articleNumber": "B"}'
    assert (await api.put("/articles", content=duplicate, headers=headers)).status_code == 400
    nan = b'{"goodsOwnerId": 159, "articleNumber": "A", "weight": NaN}'
    assert (await api.put("/articles", content=nan, headers=headers)).status_code == 400
    as_text = await api.put("/articles", content=b'{"goodsOwnerId": 159, "articleNumber": "A"}',
                            headers={"Content-Type": "text/plain"})
    assert as_text.status_code == 415
    assert (await api.put("/articles", content=b"", headers=headers)).status_code == 400


async def test_a_structure_article_and_its_rows(api: httpx.AsyncClient) -> None:
    part = await put_article(api, "P1")
    kit = await put_article(api, "KIT", structureDefinition={
        "articleKind": "Structure", "rows": [{"articleNumber": "P1", "numberOfItems": 2}]})
    response = await api.get(f"/articles/{kit}/structureDefinition")
    assert data(response) == {"articleSystemId": kit, "articleNumber": "KIT",
                              "articleKind": "Structure",
                              "rows": [{"articleSystemId": part, "articleNumber": "P1",
                                        "numberOfItems": 2}]}
    missing = await api.put("/articles", json={
        "goodsOwnerId": OWNER, "articleNumber": "KIT2", "structureDefinition": {
            "articleKind": "Structure", "rows": [{"articleNumber": "NOPE",
                                                  "numberOfItems": 1}]}})
    assert missing.status_code == 400 and "NOPE" in data(missing)["message"]


async def test_paging_by_article_system_id_delivers_every_article_once(
        api: httpx.AsyncClient) -> None:
    ids = [await put_article(api, f"A{n}") for n in range(7)]
    seen: list[int] = []
    start, pages = 0, 0
    while True:
        response = await api.get("/articles", params={
            "goodsOwnerId": OWNER, "articleSystemIdFrom": start, "maxArticlesToGet": 3})
        page = [a["articleSystemId"] for a in data(response)]
        if not page:
            break
        pages += 1
        assert page == sorted(page, reverse=True), "greatest id first (choice C8)"
        seen += page
        start = max(page) + 1  # https://developer.ongoingwarehouse.com/paginating-responses
    assert sorted(seen) == ids and len(seen) == len(set(seen)) and pages == 3
    inclusive = await api.get("/articles", params={
        "goodsOwnerId": OWNER, "articleSystemIdFrom": ids[2], "maxArticlesToGet": 1})
    assert [a["articleSystemId"] for a in data(inclusive)] == [ids[2]]
    zero = await api.get("/articles", params={"goodsOwnerId": OWNER, "maxArticlesToGet": 0})
    assert zero.status_code == 400


# --- orders -----------------------------------------------------------------------------------


async def test_order_upsert_by_number_with_stable_ids(sandbox: OngoingSandbox,
                                                      api: httpx.AsyncClient) -> None:
    await put_article(api, "A1")
    await put_article(api, "A2")
    created = await api.put("/orders", json=order_body("SO1", [("L1", "A1", 4)], advanced={
        "orderTextLines": [{"rowNumber": "T1", "comment": "Hauras"}],
        "termsOfPaymentString": "14 pv"}, wayOfDelivery={"code": "PN", "name": "Posti"}))
    assert created.status_code == 201, created.text
    assert "Customer with customer number 'CN1'" in data(created)["message"]
    order_id = data(created)["orderId"]
    first = sandbox.order("SO1")
    updated = await api.put("/orders", json=order_body(
        "SO1", [("L1", "A1", 5), ("L2", "A2", 1)], orderRemark="changed"))
    assert updated.status_code == 200 and data(updated)["orderId"] == order_id
    assert sandbox.count(Flow.ORDERS) == 1
    response = await api.get(f"/orders/{order_id}")
    order = data(response)
    assert order["orderInfo"]["orderRemark"] == "changed"
    assert order["orderInfo"]["wayOfDelivery"] == {"code": "PN", "name": "Posti"}
    assert order["orderLines"][0]["id"] == first["orderLines"][0]["id"]
    assert [line["orderedNumberOfItems"] for line in order["orderLines"]] == [5, 1]
    assert [line["externalId"] for line in order["orderLines"]] == ["L1", "L2"]
    assert order["advanced"]["orderTextLines"] == [
        {"rowNumber": "T1", "comment": "Hauras", "numberOfItems": None}]
    assert order["orderLines"][1]["reportedNumberOfItems"] is None
    assert sandbox.sent(Flow.ORDERS, "SO1")["advanced"]["termsOfPaymentString"] == "14 pv"
    by_number = await api.get("/orders", params={"goodsOwnerId": OWNER, "orderNumber": "SO1"})
    assert [o["orderInfo"]["orderId"] for o in data(by_number)] == [order_id]
    assert order["orderInfo"]["createdDate"].endswith("Z")


async def test_an_order_the_warehouse_started_on_cannot_be_changed(
        sandbox: OngoingSandbox, api: httpx.AsyncClient) -> None:
    await put_article(api, "A1")
    created = await api.put("/orders", json=order_body("SO1", [("L1", "A1", 4)]))
    sandbox.start_work(Flow.ORDERS, "SO1")
    refused = await api.put("/orders", json=order_body("SO1", [("L1", "A1", 9)]))
    assert refused.status_code == 400
    assert "300" in data(refused)["message"]
    assert sandbox.order("SO1")["orderLines"][0]["orderedNumberOfItems"] == 4
    assert sandbox.order("SO1")["orderInfo"]["orderStatus"] == {"number": 300,
                                                                "text": "Frisläppt"}
    cancel = await api.delete(f"/orders/{data(created)['orderId']}")
    assert cancel.status_code == 400
    assert sandbox.order("SO1")["orderInfo"]["orderStatus"]["number"] == 300


async def test_an_open_order_can_be_cancelled(sandbox: OngoingSandbox,
                                              api: httpx.AsyncClient) -> None:
    await put_article(api, "A1")
    await api.put("/orders", json=order_body("SO1", [("L1", "A1", 1)]))
    response = await api.delete("/orders", params={"goodsOwnerId": OWNER, "orderNumber": "SO1"})
    assert response.status_code == 200
    assert sandbox.order("SO1")["orderInfo"]["orderStatus"]["number"] == 1000
    again = await api.put("/orders", json=order_body("SO1", [("L1", "A1", 1)]))
    assert again.status_code == 400


@pytest.mark.parametrize(("body", "complaint"), [
    (order_body("SO1", [("L1", "A1", 1)], deliveryDate=None), "deliveryDate is required"),
    (order_body("SO1", [("L1", "A1", 1)], consignee=None), "consignee is required"),
    (order_body("SO1", [("L1", "A1", 1)], deliveryDate="2024-06-03T08:00:00"),
     "deliveryDate='2024-06-03T08:00:00' is neither a date"),
    (order_body("SO1", [("L1", "NOPE", 1)]), "no such article: orderLines[0].articleNumber"),
    (order_body("SO1", [("L1", "A1", 0)]), "orderLines[0].numberOfItems must be given"),
    (order_body("SO1", [("L1", "A1", 1), ("L1", "A1", 2)]), "externalId 'L1' repeats"),
    (order_body("SO1", [("L1", "A1", 1)], emailNotification={"toBeNotified": 1}),
     "emailNotification.toBeNotified must be true or false"),
])
async def test_an_invalid_order_is_refused(sandbox: OngoingSandbox, api: httpx.AsyncClient,
                                           body: dict[str, Any], complaint: str) -> None:
    await put_article(api, "A1")
    response = await api.put("/orders", json=body)
    assert response.status_code == 400
    assert complaint in data(response)["message"]
    assert sandbox.count(Flow.ORDERS) == 0


async def test_partial_deliveries_are_reported_through_reported_number_of_items(
        sandbox: OngoingSandbox, api: httpx.AsyncClient) -> None:
    await put_article(api, "A1")
    await put_article(api, "A2")
    await api.put("/orders", json=order_body("SO1", [("L1", "A1", 4), ("L2", "A2", 2)]))
    assert await orders_to_report(api) == []
    sandbox.ship("SO1", {"L1": Decimal(1)})
    (order,) = await orders_to_report(api, orderStatusFrom=450, orderStatusTo=500)
    assert order["orderInfo"]["orderStatus"] == {"number": 450, "text": "Skickad"}
    l1, l2 = order["orderLines"]
    assert (l1["pickedNumberOfItems"], l1["reportedNumberOfItems"]) == (1, None)
    assert l2["pickedNumberOfItems"] == 0
    order_id = order["orderInfo"]["orderId"]
    too_many = await api.patch(f"/orders/{order_id}/lines/{l1['id']}/reportedNumberOfItems",
                               json={"reportedNumberOfItems": 2})
    assert too_many.status_code == 400
    ok = await api.patch(f"/orders/{order_id}/lines/{l1['id']}/reportedNumberOfItems",
                         json={"reportedNumberOfItems": 1.0})
    assert ok.status_code == 200 and data(ok)["orderId"] == order_id
    assert await orders_to_report(api) == []
    sandbox.ship("SO1")  # the rest: a second delivery
    (order,) = await orders_to_report(api)
    assert [(x["pickedNumberOfItems"], x["reportedNumberOfItems"])
            for x in order["orderLines"]] == [(4, 1), (2, None)]
    for line in order["orderLines"]:
        await api.patch(f"/orders/{order_id}/lines/{line['id']}/reportedNumberOfItems",
                        json={"reportedNumberOfItems": str(line["pickedNumberOfItems"])})
    assert await orders_to_report(api) == []
    unknown_line = await api.patch(f"/orders/{order_id}/lines/1/reportedNumberOfItems",
                                   json={"reportedNumberOfItems": 0})
    assert unknown_line.status_code == 404


async def test_picked_but_not_shipped_is_to_report_but_not_sent(
        sandbox: OngoingSandbox, api: httpx.AsyncClient) -> None:
    await put_article(api, "A1")
    await api.put("/orders", json=order_body("SO1", [("L1", "A1", 2)]))
    sandbox.pick("SO1", {"1": Decimal(2)})  # by rowNumber
    assert [o["orderInfo"]["orderStatus"]["number"] for o in await orders_to_report(api)] == [400]
    assert await orders_to_report(api, orderStatusFrom=450) == []
    with pytest.raises(ValueError, match="cannot pick"):
        sandbox.pick("SO1", {"L1": Decimal(1)})


async def test_stock_figures_follow_orders_and_shipments(sandbox: OngoingSandbox,
                                                         api: httpx.AsyncClient) -> None:
    await put_article(api, "A1")
    sandbox.set_stock("A1", Decimal(10))
    await api.put("/orders", json=order_body("SO1", [("L1", "A1", 4)]))

    def inventory() -> dict[str, Any]:
        info: dict[str, Any] = sandbox.article("A1")["inventoryInfo"]
        return info

    assert (inventory()["numberOfItems"], inventory()["numberOfBookedItems"],
            inventory()["sellableNumberOfItems"]) == (10, 4, 6)
    sandbox.pick("SO1", {"L1": Decimal(1)})
    assert (inventory()["numberOfItems"], inventory()["pickedToBeCollectedNumberOfItems"],
            inventory()["sellableNumberOfItems"]) == (10, 1, 6)
    sandbox.ship("SO1", {})
    assert (inventory()["numberOfItems"], inventory()["pickedToBeCollectedNumberOfItems"],
            inventory()["sellableNumberOfItems"]) == (9, 0, 9)
    assert inventory()["reported"]["pickedToBeReportedNumberOfItems"] == 1


# --- purchase orders --------------------------------------------------------------------------


async def test_purchase_order_receive_and_report(sandbox: OngoingSandbox,
                                                 api: httpx.AsyncClient) -> None:
    await put_article(api, "A1")
    created = await api.put("/purchaseOrders", json=po_body("PO1", [("R1", "A1", 10)]))
    assert created.status_code == 200
    assert data(created)["message"] == "Inorder with order number PO1 created. <br/>"
    po_id = data(created)["purchaseOrderId"]
    again = await api.put("/purchaseOrders", json=po_body("PO1", [("R1", "A1", 10)],
                                                          referenceNumber="ref"))
    assert data(again)["purchaseOrderId"] == po_id and sandbox.count(Flow.PURCHASE_ORDERS) == 1
    query: dict[str, Any] = {"goodsOwnerId": OWNER,
                             "onlyPurchaseOrdersWithOrderLinesToReport": "true"}
    assert data(await api.get("/purchaseOrders", params=query)) == []

    sandbox.receive("PO1", {"R1": Decimal(6)}, complete=False)
    (po,) = data(await api.get("/purchaseOrders", params=query))
    assert po["purchaseOrderInfo"]["purchaseOrderStatus"]["number"] == 300
    (line,) = po["purchaseOrderLines"]
    assert (line["externalOrderLineId"], line["advisedNumberOfItems"],
            line["receivedNumberOfItems"], line["reportedNumberOfItems"]) == ("R1", 10, 6, None)
    assert sandbox.article("A1")["inventoryInfo"]["numberOfItems"] == 6
    path = f"/purchaseOrders/{po_id}/lines/{line['id']}/reportedNumberOfItems"
    assert (await api.patch(path, json={"reportedNumberOfItems": "6"})).status_code == 200
    assert data(await api.get("/purchaseOrders", params=query)) == []
    assert (await api.put("/purchaseOrders", json=po_body("PO1", [("R1", "A1", 12)]))
            ).status_code == 400  # the warehouse has started receiving

    sandbox.receive("PO1", {"R1": Decimal(3)}, complete=True)
    (po,) = data(await api.get("/purchaseOrders", params=query))
    assert po["purchaseOrderInfo"]["purchaseOrderStatus"] == {"number": 400,
                                                              "text": "Avvikelse"}
    assert po["purchaseOrderLines"][0]["receivedNumberOfItems"] == 9
    assert (await api.patch(path, json={"reportedNumberOfItems": 10})).status_code == 400
    assert (await api.patch(path, json={"reportedNumberOfItems": 9})).status_code == 200
    assert data(await api.get("/purchaseOrders", params=query)) == []
    with pytest.raises(ValueError, match="closed"):
        sandbox.receive("PO1", {"R1": Decimal(1)})


async def test_a_purchase_order_received_in_full_is_received(sandbox: OngoingSandbox,
                                                             api: httpx.AsyncClient) -> None:
    await put_article(api, "A1")
    await api.put("/purchaseOrders", json=po_body("PO1", [("R1", "A1", 2)]))
    sandbox.start_work(Flow.PURCHASE_ORDERS, "PO1")
    assert sandbox.purchase_order("PO1")["purchaseOrderInfo"]["purchaseOrderStatus"][
        "number"] == 200
    sandbox.receive("PO1", {"1": Decimal(2)}, complete=True)  # by rowNumber
    status = await api.get("/purchaseOrders", params={"goodsOwnerId": OWNER,
                                                      "purchaseOrderStatusFrom": 500})
    assert [p["purchaseOrderInfo"]["purchaseOrderNumber"] for p in data(status)] == ["PO1"]


# --- inventory adjustments --------------------------------------------------------------------


async def test_inventory_adjustments_by_time_and_reported_flag(sandbox: OngoingSandbox,
                                                              api: httpx.AsyncClient) -> None:
    article = await put_article(api, "A1")
    t1, t2 = T0 + timedelta(minutes=1), T0 + timedelta(minutes=2)
    sandbox.adjust("A1", Decimal(3), "FOUND", comment="Found in corner", at=t1)
    sandbox.adjust("A1", Decimal(-1), at=t2)
    assert sandbox.article("A1")["inventoryInfo"]["numberOfItems"] == 2

    async def quantities(**params: Any) -> list[Decimal]:
        response = await api.get("/inventoryAdjustments", params={"goodsOwnerId": OWNER,
                                                                  **params})
        assert response.status_code == 200, response.text
        return [a["numberOfItems"] for group in data(response)
                for a in group["inventoryAdjustments"]]

    everything = await api.get("/inventoryAdjustments", params={
        "goodsOwnerId": OWNER, "from": "2024-05-31T07:00:00Z", "toTime": "2024-05-31T09:00:00Z"})
    (group,) = data(everything)
    assert group["article"] == {"articleSystemId": article, "articleNumber": "A1",
                                "articleName": "Article A1", "productCode": ""}
    first, second = group["inventoryAdjustments"]
    assert (first["numberOfItems"], first["inventoryTime"]) == (3, "2024-05-31T08:01:00Z")
    assert first["inventoryAdjustmentCause"] == {"code": "FOUND", "name": "FOUND"}
    assert first["inventoryItemComment"] == "Found in corner"
    assert await quantities(**{"from": t1.isoformat()}) == [-1]  # after: exclusive
    assert await quantities(toTime=t2.isoformat()) == [3]  # before: exclusive
    assert await quantities(isReported="false") == [3, -1]

    marked = await api.patch(
        f"/inventoryAdjustments/{first['inventoryId']}/articles/{article}/setReported")
    assert marked.status_code == 200 and len(data(marked)["items"]) == 1
    assert await quantities(isReported="false") == [-1]
    assert await quantities(isReported="true") == [3]
    assert await quantities() == [3, -1]
    wrong = await api.patch(
        f"/inventoryAdjustments/{first['inventoryId']}/articles/{article + 1}/setReported")
    assert wrong.status_code == 404
    single = await api.get(f"/inventoryAdjustments/{second['inventoryId']}")
    assert [a["numberOfItems"] for a in data(single)["inventoryAdjustments"]] == [-1]
    assert [a["reported"] for a in sandbox.adjustments("A1")] == [True, False]


@pytest.mark.parametrize(("params", "status", "complaint"), [
    ({"from": "2024-05-31T08:00:00"}, 400, "has no UTC offset"),
    ({"to": "2024-05-31T08:00:00Z"}, 400, "obsolete"),
    ({"isReported": "yes"}, 400, "not true or false"),
])
async def test_adjustment_query_strictness(api: httpx.AsyncClient, params: dict[str, str],
                                           status: int, complaint: str) -> None:
    response = await api.get("/inventoryAdjustments", params={"goodsOwnerId": OWNER, **params})
    assert response.status_code == status
    assert complaint in data(response)["message"]


async def test_an_unencoded_plus_in_a_time_is_refused(api: httpx.AsyncClient) -> None:
    response = await api.get(
        "/inventoryAdjustments?goodsOwnerId=159&from=2024-05-31T08:00:00+00:00")
    assert response.status_code == 400 and "%2B" in data(response)["message"]


# --- statuses ---------------------------------------------------------------------------------


async def test_statuses_endpoints_give_numbers_and_texts(api: httpx.AsyncClient) -> None:
    orders = data(await api.get("/orders/statuses"))["orderStatuses"]
    assert [s["number"] for s in orders] == [150, 200, 300, 320, 400, 450, 500, 800, 1000]
    assert {"number": 500, "text": "Collected"} in orders
    purchase = data(await api.get("/purchaseOrders/statuses"))["orderStatuses"]
    assert purchase == [{"number": 100, "text": "Notified"},
                        {"number": 200, "text": "Arrival space"},
                        {"number": 300, "text": "Inbound"}, {"number": 400, "text": "Deflection"},
                        {"number": 500, "text": "Received"}, {"number": 900, "text": "Cancelled"}]
    refused = await api.get("/orders/statuses", params={"goodsOwnerId": OWNER})
    assert refused.status_code == 400


async def test_order_status_text_is_localised_but_the_number_is_stable() -> None:
    english = OngoingSandbox(language="en")
    async with connect(english) as api:
        await put_article(api, "A1")
        await api.put("/orders", json=order_body("SO1", [("L1", "A1", 1)]))
    assert english.order("SO1")["orderInfo"]["orderStatus"] == {"number": 200, "text": "Open"}
    swedish = OngoingSandbox()
    async with connect(swedish) as api:
        await put_article(api, "A1")
        await api.put("/orders", json=order_body("SO1", [("L1", "A1", 1)]))
    assert swedish.order("SO1")["orderInfo"]["orderStatus"] == {"number": 200, "text": "Öppen"}


# --- query strings and paths ------------------------------------------------------------------


@pytest.mark.parametrize(("url", "status", "complaint"), [
    ("/orders?goodsOwnerId=159&orderNo=SO1", 400, "Unknown query parameter(s): orderNo"),
    ("/orders?goodsownerid=159", 400, "Unknown query parameter(s): goodsownerid"),
    ("/orders?goodsOwnerId=159&orderIdFrom=1&orderIdFrom=2", 400, "given 2 times"),
    ("/orders?goodsOwnerId=159&pickable=All", 501, "pickable"),
    ("/orders?orderNumber=SO1", 400, "goodsOwnerId are required"),
    ("/orders?goodsOwnerId=x", 400, "not a whole number"),
    ("/orders?goodsOwnerId=159&orderUpdatedTimeFrom=2000-01-01T00:00:00Z", 400, "2 days"),
    ("/orders/", 404, "No HTTP resource"),
    ("/Orders?goodsOwnerId=159", 404, "No HTTP resource"),
])
async def test_queries_and_paths_are_strict(api: httpx.AsyncClient, url: str, status: int,
                                            complaint: str) -> None:
    response = await api.get(url)
    assert response.status_code == status
    assert complaint in data(response)["message"]


async def test_arrays_are_repeated_keys(api: httpx.AsyncClient) -> None:
    for number in ("A1", "A2", "A3"):
        await put_article(api, number)
    response = await api.get("/articles", params=[("goodsOwnerId", OWNER),
                                                  ("articleNumbers", "A1"),
                                                  ("articleNumbers", "A3")])
    assert sorted(a["articleNumber"] for a in data(response)) == ["A1", "A3"]
    comma = await api.get("/articles", params={"goodsOwnerId": OWNER, "articleNumbers": "A1,A3"})
    assert data(comma) == []


async def test_a_wrong_method_is_405(api: httpx.AsyncClient) -> None:
    response = await api.post("/articles", json={})
    assert response.status_code == 405


async def test_a_call_without_a_body_model_takes_no_body(api: httpx.AsyncClient) -> None:
    response = await api.request("GET", "/orders/statuses", content=b'{"x": 1}')
    assert response.status_code == 400


# --- faults, counting, latency ----------------------------------------------------------------


async def test_fault_injection_before_and_after_processing(sandbox: OngoingSandbox,
                                                           api: httpx.AsyncClient) -> None:
    sandbox.fail_next(2, 503, headers={"Retry-After": "7"}, path="/orders")
    assert (await api.get("/purchaseOrders/statuses")).status_code == 200  # not /orders
    for _ in range(2):
        failed = await api.get("/orders/statuses")
        assert failed.status_code == 503 and failed.headers["retry-after"] == "7"
    assert (await api.get("/orders/statuses")).status_code == 200

    sandbox.fail_next(1, 500, body="Internal error", method="PUT", after=True)
    lost = await api.put("/articles", json={"goodsOwnerId": OWNER, "articleNumber": "A1"})
    assert lost.status_code == 500 and lost.text == "Internal error"
    assert sandbox.count(Flow.ARTICLES) == 1  # the write happened, its answer was lost

    assert sandbox.request_count("GET", "/orders") == 3
    assert sandbox.request_count("PUT") == 1
    assert [r.status for r in sandbox.requests] == [200, 503, 503, 200, 500]


async def test_writes_of_one_goods_owner_run_one_at_a_time(sandbox: OngoingSandbox,
                                                           api: httpx.AsyncClient) -> None:
    sandbox.latency = 0.15
    began = time.monotonic()
    await asyncio.gather(*(put_article(api, f"A{n}") for n in range(2)))
    writes = time.monotonic() - began
    assert writes >= 0.3, "two writes of one goods owner must queue"
    began = time.monotonic()
    await asyncio.gather(*(api.get("/orders/statuses") for _ in range(2)))
    reads = time.monotonic() - began
    assert reads < 0.3, "reads are not queued"
    assert sandbox.peak_in_flight() == 2


# --- the control surface ----------------------------------------------------------------------


async def test_control_surface_refuses_what_a_warehouse_cannot_do(
        sandbox: OngoingSandbox, api: httpx.AsyncClient) -> None:
    await put_article(api, "A1")
    await api.put("/orders", json=order_body("SO1", [("L1", "A1", 2)]))
    with pytest.raises(KeyError):
        sandbox.ship("SO1", {"NOPE": Decimal(1)})
    with pytest.raises(KeyError):
        sandbox.ship("NO-SUCH-ORDER")
    with pytest.raises(TypeError):
        sandbox.ship("SO1", {"L1": 1.0})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="450"):
        sandbox.ship("SO1", status=400)
    with pytest.raises(ValueError, match="cannot adjust"):
        sandbox.adjust("A1", Decimal(-1))
    with pytest.raises(ValueError, match="not stock"):
        sandbox.start_work(Flow.STOCK, "A1")
    sandbox.ship("SO1", status=500, way_bill="JJFI1")
    order = sandbox.order("SO1")
    assert order["orderInfo"]["orderStatus"]["number"] == 500
    assert order["orderInfo"]["wayBill"] == "JJFI1"
    assert order["orderInfo"]["shippedTime"] is not None
    assert sandbox.article("A1")["inventoryInfo"]["numberOfItems"] == 0  # never below zero
    assert sandbox.count(Flow.ADJUSTMENTS) == 0
