# The EU tachograph calibration protocol (Annex IB / IC App. 8): the
# recordDataIdentifier table (rdi.py), the vehicle unit binding (vu.py) and
# the workshop tester workflow (workshop.py).
