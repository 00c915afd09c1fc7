"""erpsync's benchmarks: ``python -m benchmarks.run [--quick]`` (or ``nox -s bench``).

The real Netvisor, PowerOffice Go and Ongoing WMS plugins run through the core runner against
their simulators, served by uvicorn on loopback ports; results go to docs/benchmarks.md.
"""
