"""FHIR R4 questionnaires and questionnaire responses, in and out, from the instruments' data."""
