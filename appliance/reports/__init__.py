"""The monthly activity report: indicators (definitions), computation (monthly), output
formats (formats, pdf). The SQL lives in appliance/store/reports.py."""
