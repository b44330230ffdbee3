"""Solar and battery monitoring.

INA219 driver, battery model, shutdown policy, power daemon, simulator.
"""
