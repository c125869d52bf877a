"""The hosted checkout's public side (issue 13): the status a paying customer's page
polls, rate limited per client."""
