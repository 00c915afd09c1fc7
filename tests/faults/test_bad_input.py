"""Bad input from the vendor: a clear dead letter (or a clear stop) for the bad record, the
others synced, Finnish, Swedish and Norwegian names arriving unchanged in every field."""

from __future__ import annotations

from decimal import Decimal

from erpsync_fortnox.sandbox import OrderRow
from erpsync_netvisor.sandbox import CommentLine, DeliveryAddress, ProductLine, PurchaseLine
from erpsync_poweroffice.sandbox import ProductLine as PoLine
from erpsync_poweroffice.sandbox import TextLine

from erpsync.models import Flow
from tests.faults.conftest import Tally
from tests.faults.world import CUSTOMER, PRODUCTS, InProcess, World, cli
from tests.faults.world_fortnox import ARTICLES, FxWorld
from tests.faults.world_poweroffice import PoWorld

LONG_NAME = "Pitkä tuotenimi, joka ei mahdu varastojärjestelmään " + "ä" * 250


async def test_an_order_line_for_an_article_unknown_to_the_wms_is_a_clear_dead_letter(
    mounted: InProcess[World], tally: Tally,
) -> None:
    world = mounted.world
    # A product Netvisor has but the WMS never got: added after the articles ran.
    runs = await mounted.run(Flow.ARTICLES)
    tally.count_runs(runs)
    world.nv.add_product("UUSI-1", "Uusi tuote Ålö")
    bad = world.nv.add_order(CUSTOMER, [ProductLine("UUSI-1", 1), ProductLine(PRODUCTS[0][0], 1)])
    tally.faults += 1
    runs = await mounted.run(Flow.ORDERS)
    tally.count_runs(runs)
    run = runs[Flow.ORDERS]
    assert (run.outcome, run.written, run.dead_lettered) == ("partial", 3, 1)
    (letter,) = mounted.state.dead_letters()
    assert (letter.flow, letter.business_key) == ("orders", bad)
    assert "UUSI-1" in (letter.vendor_message or ""), "the vendor's words name the article"
    assert world.wms.count(Flow.ORDERS) == 3, "the other orders synced"

    runs = await mounted.run(Flow.ARTICLES)  # the article arrives; retry sends the order
    result = await cli(world, "retry")
    assert result.exit_code == 0, result.output
    assert mounted.state.dead_letters() == []
    assert world.wms.count(Flow.ORDERS) == 4
    assert [line["article"]["articleNumber"] for line in world.wms.order(bad)["orderLines"]] == [
        "UUSI-1", PRODUCTS[0][0]]


async def test_a_text_the_wms_refuses_as_too_long_is_dead_lettered_with_its_words(
    mounted: InProcess[World], tally: Tally,
) -> None:
    world = mounted.world
    world.nv.add_product("PITKA-1", LONG_NAME)
    refusal = "articleName: the text is longer than 200 characters"
    world.wms_chaos.arm("refuse", method="PUT", path="/articles", count=100,
                        old=LONG_NAME.encode(), new=refusal.encode())
    tally.faults += 1
    runs = await mounted.run()
    for flow in runs:
        tally.count_runs({flow: runs[flow]})
    articles = runs[Flow.ARTICLES]
    assert (articles.outcome, articles.written, articles.dead_lettered) == (
        "partial", len(PRODUCTS), 1)
    (letter,) = mounted.state.dead_letters()
    assert (letter.flow, letter.business_key) == ("articles", "PITKA-1")
    assert letter.vendor_message == refusal
    assert letter.payload["name"] == LONG_NAME, "the record is kept to send again"
    assert {run.outcome for flow, run in runs.items() if flow is not Flow.ARTICLES} == {"ok"}

    again = await mounted.run(Flow.ARTICLES)
    assert again[Flow.ARTICLES].written == 0, "nothing re-sent but the refused record"
    (letter,) = mounted.state.dead_letters()
    assert letter.attempts == 2


async def test_nordic_names_arrive_unchanged_in_every_field(
    mounted: InProcess[World], tally: Tally,
) -> None:
    world = mounted.world
    nv = world.nv
    nv.add_product("ÅÄÖ-1", "Blåbärssylt Ærø Ørsted Ää Öö Åå", description="Smør og brød",
                   group="Sylt och marmelad Æøå", unit="kpl")
    nv.add_customer("KUND-Ø", "Bjørnstjerne Kåre Ærlighet AS", street="Storgata Ø 7",
                    post_code="0155", city="Tromsø", phone="+4712345678",
                    email="ordre@kaare.example")
    order = nv.add_order(
        "KUND-Ø", [ProductLine("ÅÄÖ-1", 2), CommentLine("Levér ved bakdøren, spør etter Åse")],
        delivery_address=DeliveryAddress(name="Jääkärin Pöytä Oy", name_extension="Åbo lager",
                                         line="Läntinen Rantakatu 1", post_code="20100",
                                         town="Åbo"),
        text_before="Tåligt gods – hanteras varsamt", our_reference="Säljare Öberg")
    po = nv.add_purchase_order("Leverantör Åström & Søn AB", [PurchaseLine("ÅÄÖ-1", 4)])
    runs = await mounted.run(Flow.ARTICLES, Flow.ORDERS, Flow.PURCHASE_ORDERS)
    tally.count_runs(runs)
    assert {run.outcome for run in runs.values()} == {"ok"}, runs
    assert mounted.state.dead_letters() == []

    article = world.wms.article("ÅÄÖ-1")
    assert article["articleName"] == "Blåbärssylt Ærø Ørsted Ää Öö Åå"
    sent = world.wms.sent(Flow.ARTICLES, "ÅÄÖ-1")
    assert sent["articleGroup"]["name"] == "Sylt och marmelad Æøå"
    for code, name in PRODUCTS:
        assert world.wms.article(code)["articleName"] == name
    got = world.wms.order(order)
    consignee = got["consignee"]
    assert (consignee["name"], consignee["address1"], consignee["address2"],
            consignee["city"], consignee["customerNumber"]) == (
        "Jääkärin Pöytä Oy", "Läntinen Rantakatu 1", "Åbo lager", "Åbo", "KUND-Ø")
    assert [t["comment"] for t in got["advanced"]["orderTextLines"]] == [
        "Levér ved bakdøren, spør etter Åse"]
    assert got["orderInfo"]["orderRemark"] == "Tåligt gods – hanteras varsamt"
    assert got["orderInfo"]["referenceNumber"] == "Säljare Öberg"
    assert world.wms.sent(Flow.PURCHASE_ORDERS, po)["supplierInfo"]["supplierName"] == (
        "Leverantör Åström & Søn AB")

    # And back: a delivery of the Nordic article is recorded in Netvisor.
    world.wms.ship(order)
    back = await mounted.run(Flow.DELIVERIES)
    assert (back[Flow.DELIVERIES].outcome, back[Flow.DELIVERIES].written) == ("ok", 1)
    assert list(nv.delivered(order).values()) == [Decimal(2)]


async def test_a_product_with_an_unparseable_number_is_a_dead_letter_and_the_rest_synced(
    mounted: InProcess[World], tally: Tally,
) -> None:
    """One product Netvisor sends with a number that cannot be read is dead-lettered, named
    with the field and the value; every other product of the same read arrives; once the
    product is corrected in Netvisor the next run writes it and clears the dead letter."""
    world = mounted.world
    bad = PRODUCTS[6][0]
    world.nv.change_product(bad, unit_price=Decimal("77.77"))
    world.nv_chaos.arm("replace", path="product", count=1000, old=b"77,77", new=b"77,7,7")
    runs = await mounted.run()
    tally.count_runs(runs)
    assert world.nv_chaos.injected >= 1
    tally.faults += 1
    articles = runs[Flow.ARTICLES]
    assert (articles.outcome, articles.dead_lettered) == ("partial", 1)
    (letter,) = [d for d in mounted.state.dead_letters() if d.flow == "articles"]
    assert letter.business_key == bad
    assert "UnitPrice" in letter.message and "77,7,7" in letter.message, letter.message
    assert world.wms.count(Flow.ARTICLES) == len(PRODUCTS) - 1, "the others arrived"
    assert runs[Flow.PURCHASE_ORDERS].outcome in ("ok", "partial"), "the cycle went on"

    world.nv_chaos.rules.clear()
    world.nv.change_product(bad, unit_price=Decimal("77.70"))  # the user corrects it
    again = await mounted.run()
    tally.count_runs(again)
    assert (again[Flow.ARTICLES].outcome, again[Flow.ARTICLES].written) == ("ok", 1)
    assert world.wms.count(Flow.ARTICLES) == len(PRODUCTS)
    assert world.wms.article(bad)["articleName"] == PRODUCTS[6][1]
    assert [d.flow for d in mounted.state.dead_letters()] in ([], ["purchase_orders"]), (
        "the article's dead letter is cleared by its successful write")
    if mounted.state.dead_letters():  # a purchase order of that article waited for it
        result = await cli(world, "retry")
        assert result.exit_code == 0, result.output
    assert mounted.state.dead_letters() == []
    assert world.wms.count(Flow.ORDERS) == 3 and world.wms.count(Flow.PURCHASE_ORDERS) == 2


# --- PowerOffice Go ---------------------------------------------------------------------------


async def test_poweroffice_a_product_with_an_unparseable_number_is_a_dead_letter(
    po_mounted: InProcess[PoWorld], tally: Tally,
) -> None:
    """One product whose UnitPrice Go sends as a text that is no number: a dead letter naming
    the product, the field and the value; every other product of the same page arrives, the
    orders and the stock flow go on; corrected in Go, the next cycle writes it."""
    world = po_mounted.world
    bad = PRODUCTS[6][0]
    world.po.change_product(bad, unit_price=Decimal("77.77"))
    world.erp_chaos.arm("replace", path="/v2/products", count=1000, old=b"77.77",
                        new=b'"77,7,7"')
    runs = await po_mounted.run()
    tally.count_runs(runs)
    assert world.erp_chaos.injected >= 1
    tally.faults += 1
    articles = runs[Flow.ARTICLES]
    assert (articles.outcome, articles.dead_lettered) == ("partial", 1), articles
    (letter,) = [d for d in po_mounted.state.dead_letters() if d.flow == "articles"]
    assert letter.business_key == bad
    assert "UnitPrice" in letter.message and "77,7,7" in letter.message, letter.message
    assert world.wms.count(Flow.ARTICLES) == len(PRODUCTS) - 1, "the others arrived"
    assert runs[Flow.ORDERS].outcome in ("ok", "partial"), "the cycle went on"

    world.erp_chaos.rules.clear()
    world.po.change_product(bad, unit_price=Decimal("77.70"))  # the user corrects it
    again = await po_mounted.run()
    tally.count_runs(again)
    assert (again[Flow.ARTICLES].outcome, again[Flow.ARTICLES].written) == ("ok", 1)
    assert world.wms.count(Flow.ARTICLES) == len(PRODUCTS)
    assert [d for d in po_mounted.state.dead_letters() if d.flow == "articles"] == []


async def test_poweroffice_an_invoice_line_for_a_product_unknown_to_the_wms(
    po_mounted: InProcess[PoWorld], tally: Tally,
) -> None:
    """A paid invoice for a product the WMS never got (made after the articles ran): a clear
    dead letter naming the article, the other orders synced; once the article has arrived,
    ``erpsync retry`` sends the order."""
    world = po_mounted.world
    runs = await po_mounted.run(Flow.ARTICLES)
    tally.count_runs(runs)
    world.po.add_product("NY-1", "Ny vare Ålesund", stock_item=True, unit_price=Decimal("10"))
    customer = world.po.add_customer("Kiosken på Tøyen")
    invoice = world.po.send_invoice(customer, [PoLine("NY-1", 1),
                                               PoLine(PRODUCTS[0][0], 1)])
    world.po.register_payment(invoice)
    bad = str(world.po.invoice(invoice)["OrderNo"])
    tally.faults += 1
    runs = await po_mounted.run(Flow.ORDERS)
    tally.count_runs(runs)
    run = runs[Flow.ORDERS]
    assert (run.outcome, run.written, run.dead_lettered) == ("partial", 3, 1), run
    (letter,) = po_mounted.state.dead_letters()
    assert (letter.flow, letter.business_key) == ("orders", bad)
    assert "NY-1" in (letter.vendor_message or ""), "the vendor's words name the article"
    assert world.wms.count(Flow.ORDERS) == 3, "the other orders synced"

    await po_mounted.run(Flow.ARTICLES)
    result = await cli(world, "retry")
    assert result.exit_code == 0, result.output
    assert po_mounted.state.dead_letters() == []
    assert [line["article"]["articleNumber"]
            for line in world.wms.order(bad)["orderLines"]] == ["NY-1", PRODUCTS[0][0]]


async def test_poweroffice_nordic_names_arrive_unchanged_in_every_field(
    po_mounted: InProcess[PoWorld], tally: Tally,
) -> None:
    world = po_mounted.world
    po = world.po
    po.add_product_group("SYLT", "Syltetøy og marmelade Æøå")
    po.add_product("ÆØÅ-1", "Blåbærsyltetøy Ærø Ørsted Åå", group="SYLT",
                   description="Smør og brød på Østlandet", unit="EA", stock_item=True,
                   unit_price=Decimal("49"))
    customer = po.add_customer("Bjørnstjerne Kåre", legal_name="Ærlighet og Søn AS",
                               mail_address={"AddressLine1": "Postboks 7 Økern",
                                             "AddressLine2": "Avd. Innkjøp Å",
                                             "ZipCode": "0508", "City": "Tromsø",
                                             "CountryCode": "NO"})
    invoice = po.send_invoice(customer, [PoLine("ÆØÅ-1", 2),
                                         TextLine("Levér ved bakdøren, spør etter Åse")],
                              customer_reference="Selger Øberg")
    po.register_payment(invoice)
    runs = await po_mounted.run()
    tally.count_runs(runs)
    assert {run.outcome for run in runs.values()} == {"ok"}, runs
    assert po_mounted.state.dead_letters() == []

    assert world.wms.article("ÆØÅ-1")["articleName"] == "Blåbærsyltetøy Ærø Ørsted Åå"
    sent = world.wms.sent(Flow.ARTICLES, "ÆØÅ-1")
    assert sent["articleGroup"]["name"] == "Syltetøy og marmelade Æøå"
    assert sent["description"] == "Smør og brød på Østlandet"
    for code, name in PRODUCTS:
        assert world.wms.article(code)["articleName"] == name
    order = world.wms.order(str(po.invoice(invoice)["OrderNo"]))
    consignee = order["consignee"]
    assert (consignee["name"], consignee["address1"], consignee["address2"],
            consignee["city"]) == ("Ærlighet og Søn AS Bjørnstjerne Kåre", "Postboks 7 Økern",
                                   "Avd. Innkjøp Å", "Tromsø")
    assert [t["comment"] for t in order["advanced"]["orderTextLines"]] == [
        "Levér ved bakdøren, spør etter Åse"]
    assert order["orderInfo"]["consigneeOrderNumber"] == "Selger Øberg"


# --- Fortnox --------------------------------------------------------------------------------


async def test_fortnox_an_article_with_an_unparseable_number_is_a_dead_letter(
    fx_mounted: InProcess[FxWorld], tally: Tally,
) -> None:
    """One article whose PurchasePrice Fortnox sends as a text that is no number: a dead
    letter naming the article, the field and the value; the other articles arrive; corrected
    in Fortnox, the next cycle writes it and clears the dead letter."""
    world = fx_mounted.world
    bad = ARTICLES[2][0]
    world.fx.change_article(bad, purchase_price=Decimal("77.77"))
    world.erp_chaos.arm("replace", path=f"/3/articles/{bad.lower()}", count=1000,
                        old=b"77.77", new=b'"77,7,7"')
    runs = await fx_mounted.run(Flow.ARTICLES)
    tally.count_runs(runs)
    assert world.erp_chaos.injected >= 1
    tally.faults += 1
    articles = runs[Flow.ARTICLES]
    assert (articles.outcome, articles.written, articles.dead_lettered) == ("partial", 2, 1)
    (letter,) = fx_mounted.state.dead_letters()
    assert (letter.flow, letter.business_key) == ("articles", bad)
    assert "PurchasePrice" in letter.message and "77,7,7" in letter.message, letter.message
    assert world.wms.count(Flow.ARTICLES) == len(ARTICLES) - 1, "the others arrived"

    world.erp_chaos.rules.clear()
    world.fx.change_article(bad, purchase_price=Decimal("77.70"))  # the user corrects it
    again = await fx_mounted.run(Flow.ARTICLES)
    tally.count_runs(again)
    assert (again[Flow.ARTICLES].outcome, again[Flow.ARTICLES].written) == ("ok", 1)
    assert world.wms.article(bad)["articleName"] == ARTICLES[2][1]
    assert fx_mounted.state.dead_letters() == []


async def test_fortnox_an_order_row_for_an_article_unknown_to_the_wms(
    fx_mounted: InProcess[FxWorld], tally: Tally,
) -> None:
    """An order for an article the WMS never got (registered after the articles ran): a clear
    dead letter naming the article, the other orders synced; once the article has arrived,
    ``erpsync retry`` sends the order."""
    world = fx_mounted.world
    runs = await fx_mounted.run(Flow.ARTICLES)
    tally.count_runs(runs)
    world.fx.add_article("NY-1", "Ny vara Ålö", quantity=Decimal(5))
    customer = world.fx.add_customer("Kiosken på Söder AB", country="Sverige")
    bad = str(world.fx.add_order(customer, [OrderRow("NY-1", 1), OrderRow(ARTICLES[0][0], 1)]))
    tally.faults += 1
    runs = await fx_mounted.run(Flow.ORDERS)
    tally.count_runs(runs)
    run = runs[Flow.ORDERS]
    assert (run.outcome, run.written, run.dead_lettered) == ("partial", 2, 1), run
    (letter,) = fx_mounted.state.dead_letters()
    assert (letter.flow, letter.business_key) == ("orders", bad)
    assert "NY-1" in (letter.vendor_message or ""), "the vendor's words name the article"
    assert world.wms.count(Flow.ORDERS) == 2, "the other orders synced"

    await fx_mounted.run(Flow.ARTICLES)
    result = await cli(world, "retry")
    assert result.exit_code == 0, result.output
    assert fx_mounted.state.dead_letters() == []
    assert [line["article"]["articleNumber"]
            for line in world.wms.order(bad)["orderLines"]] == ["NY-1", ARTICLES[0][0]]


async def test_fortnox_nordic_names_arrive_unchanged_in_every_field(
    fx_mounted: InProcess[FxWorld], tally: Tally,
) -> None:
    world = fx_mounted.world
    fx = world.fx
    customer = fx.add_customer("Bjørnstjerne Kåre Ærlighet AS", city="Tromsø", country="Norge")
    order = fx.add_order(
        customer, [OrderRow(ARTICLES[2][0], 2, description="Brunost Ørsta Æblegård")],
        remarks="Levér ved bakdøren, spør etter Åse", DeliveryName="Jääkärin Pöytä Oy",
        DeliveryAddress1="Läntinen Rantakatu 1", DeliveryAddress2="Åbo lager",
        DeliveryCity="Åbo", DeliveryZipCode="20100", DeliveryCountry="Finland",
        OurReference="Säljare Öberg", YourReference="Åsa Ängström")
    runs = await fx_mounted.run(Flow.ARTICLES, Flow.ORDERS, Flow.PURCHASE_ORDERS)
    tally.count_runs(runs)
    assert {run.outcome for run in runs.values()} == {"ok"}, runs
    assert fx_mounted.state.dead_letters() == []

    for number, name in ARTICLES:
        assert world.wms.article(number)["articleName"] == name
    got = world.wms.order(str(order))
    consignee = got["consignee"]
    assert (consignee["name"], consignee["address1"], consignee["address2"],
            consignee["city"], consignee["countryCode"]) == (
        "Jääkärin Pöytä Oy", "Läntinen Rantakatu 1", "Åbo lager", "Åbo", "FI")
    assert got["orderInfo"]["orderRemark"] == "Levér ved bakdøren, spør etter Åse"
    assert got["orderInfo"]["referenceNumber"] == "Säljare Öberg"
    assert got["orderInfo"]["consigneeOrderNumber"] == "Åsa Ängström"
    assert world.wms.order(world.orders[0])["orderInfo"]["orderRemark"] == (
        "Lämnas vid porten, fråga efter Åsa")
    assert world.wms.sent(Flow.PURCHASE_ORDERS, world.purchase_orders[0])["supplierInfo"][
        "supplierName"] == "Grossisten Åhlén & Søn AB"

    # And back: the delivery of the Nordic order is recorded in Fortnox, invoiced once.
    world.wms.ship(str(order))
    back = await fx_mounted.run(Flow.DELIVERIES)
    assert (back[Flow.DELIVERIES].outcome, back[Flow.DELIVERIES].written) == ("ok", 1)
    assert [Decimal(row["DeliveredQuantity"]) for row in fx.order(order)["OrderRows"]] == [
        Decimal(2)]
    assert len(fx.invoices_of(order)) == 1
