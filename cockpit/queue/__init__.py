"""Mail queue depth: sources (postqueue, mailq, exim, prometheus, json, command), history,
rate and drain estimate, thresholds and events."""
