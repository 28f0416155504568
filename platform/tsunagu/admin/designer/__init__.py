"""The browser designers for tenant administrators (BPMN, DMN, forms): pages, their data, checks and deploys.

The editors themselves are browser bundles built from ``frontend/designer/`` (bpmn-js, dmn-js, form-js); this
package is the thin server side: ``drafts.py`` (what a designer needs to know, validating and deploying a
draft — through ``engine.definitions`` and ``engine.validation``) and ``pages.py`` (the views). It is meant to
move under ``admin/`` when that capability exists; nothing imports it but the view registration.
"""
