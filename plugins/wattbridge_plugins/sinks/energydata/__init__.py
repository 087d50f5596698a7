"""EnergyData.dk: what its two import paths share, with the batch and MQTT sinks beneath.

``batch`` holds the ``energydata-batch`` sink (CSV files through the REST API) and
``mqtt`` the ``energydata-mqtt`` sink (one message per reading).
"""
