"""Presentation of ``analysis.report`` documents: tables for pages, the methods text, the PDF.

Plain functions over the report's JSON; no models, no statistics of their own.
"""
