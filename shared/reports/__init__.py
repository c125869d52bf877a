"""Reports: analytics summaries, CSV exports, the merchant statement and regulatory
reports (issue 12). Built from DynamoDB queries page by page, never from scans."""
