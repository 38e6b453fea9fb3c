"""Real implementations of the core's IO seams: files, watching, scheduling triggers."""
