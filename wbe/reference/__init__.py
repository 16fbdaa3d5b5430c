"""Independent reference simulators (NEST) that wbe is checked against."""
