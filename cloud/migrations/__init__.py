"""The cloud's Alembic migrations: `env.py` and one file per schema revision in `versions/`.

Alembic loads these files itself (`cloud.migrate` points it here, no alembic.ini); they are a
package only so that they ship in the wheel.
"""
