"""Second opinions: a clinician's question about one patient, sent to the district's DHIS2 as a
message conversation with the minimal case summary and an optional photo, and the replies
fetched back onto the record. Pure pieces here (the photo budget, the message); the SQL in
appliance/store/opinions.py, the service in appliance/services/opinions.py, the DHIS2 calls in
appliance/outbox/conversations.py."""
