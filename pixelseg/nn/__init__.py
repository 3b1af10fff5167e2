"""Building blocks shared by the networks."""
