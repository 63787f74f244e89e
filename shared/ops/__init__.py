"""Operating the service: metrics, readiness, and the events that finally failed."""
