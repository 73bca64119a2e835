"""The ops branch: state, policies (breaker, budget, SLO), signed store, trust, writes, gate."""
