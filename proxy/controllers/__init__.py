"""Leader controllers: health, failover and drills."""
