"""Code that several built-in plugins share: the MQTT client, TLS options, sandbox parts.

A plugin may import from here and from ``wattbridge``; never from another plugin.
"""
