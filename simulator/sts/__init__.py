"""AWS STS in the simulator: AssumeRole (trust policies evaluated) and GetCallerIdentity."""
