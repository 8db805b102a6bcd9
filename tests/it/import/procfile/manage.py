#!/usr/bin/env python3
# Stands in for Django's manage.py in rinit's tests.
import sys

if sys.argv[1:2] == ["migrate"]:
    print("Operations to perform:\n  Apply all migrations: shop\nNo migrations to apply.")
