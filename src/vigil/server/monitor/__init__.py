"""The live monitor's server side, a slice of its own: tables (`dbschema`), domain
(`domain`), stores (`storage`), services (`services`), API and pages (`handlers`).

It touches the rest of the server only through `~vigil.server.services.JobService` (a
finished processing's QA values become a job), the log aggregation (a processing's log
lines) and the live feed; `vigil.server.factory` wires its stores and services.
"""
