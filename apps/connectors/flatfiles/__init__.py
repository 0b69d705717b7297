"""Flat files for the CSV kind: streaming CSV reading, where files come from (a folder or SFTP), export files."""
