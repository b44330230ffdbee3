"""Clinical rules: schedules, growth, risk and dosing; pure functions, the date passed in."""
