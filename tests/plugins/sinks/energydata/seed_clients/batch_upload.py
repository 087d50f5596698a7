import pytz
import csv
from datetime import datetime
from EnergyDataImport import EnergyDataImport
# ###### CONFIGURATION ######
CSV_FILE_PATH = r""
AUTH_TOKEN = ""
DATASTREAM_IDS = [""] # Format: ["datastream_ID1", "datastream_ID2"...]
IMPORT_NAME = "default.csv"
# ###########################
# ----- NO NEED TO MODIFY ANYTHING AFTER THIS POINT -----
def run_multi_import():
    # 1. Pass the list of IDs to the properties argument
    with EnergyDataImport(
        upload_filename=IMPORT_NAME,
        properties=DATASTREAM_IDS, # Class creates a header with all IDs
        energydata_api_token=AUTH_TOKEN,
        overwrite=True
    ) as batch:
        with open(CSV_FILE_PATH, mode='r', encoding='utf-8') as f:
            reader = csv.reader(f, delimiter=';')
            next(reader) # Skip metadata line
            for row in reader:
                if not row or len(row) < (len(DATASTREAM_IDS) + 1):
                    continue
                # Parse timestamp (Column 0)
                raw_ts = datetime.strptime(row[0], "%Y-%m-%dT%H:%M:%S.%fZ")
                utc_ts = pytz.utc.localize(raw_ts)
                # 2. Extract values for all streams (Columns 1, 2, and 3)
                # Ensure the list length matches len(DATASTREAM_IDS)
                values = [float(row[i+1]) for i in range(len(row)-1)]
                # 3. Add the row to the batch
                batch.add_values(utc_ts, values)
        # Proceed with the standard lifecycle
        batch.upload()
        batch.validate()
        batch.ingest()
if __name__ == "__main__":
    run_multi_import()
