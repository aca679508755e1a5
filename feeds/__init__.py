"""The lab feeds: HL7 v2 over HTTP and MLLP, FHIR R4, CSV, the quarantine and the retries."""
