"""Alerts leaving citysoc: export formats, and outputs (webhook, e-mail, syslog/CEF) that
deliver each alert once."""
