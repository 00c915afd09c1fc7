"""The fault-injection suite (issue 6): the real plugins against their simulators, with faults."""
