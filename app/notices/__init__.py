"""E-mail notices: what happened to an organization's activities (a possible duplicate, a
coordinator's decision, a request, a change made by someone outside it), recorded with the
change (record), gathered per person for a short while and composed into one message in each
reader's language (batch), a digest for coordinators (digest), and each person's choices with
their one-click unsubscribe links (choices)."""
