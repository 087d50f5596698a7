"""EnergyData.dk: what its two import paths share, with the batch and MQTT sinks beneath.

``client`` is the platform's REST API (batch imports and the fetch API); ``batch``
holds the ``energydata-batch`` sink (CSV files through that API) and ``mqtt`` the
``energydata-mqtt`` sink (one message per reading). The datastream types and the one
reader and writer of the platform's CSV format live in
``wattbridge_plugins.common.energydata_csv``, since the csv-folder source reads that
format too and a source may not import a sink.
"""
