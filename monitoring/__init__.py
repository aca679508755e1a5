"""Lab results, the protocol engine, monitoring state, schedules, reminders."""
