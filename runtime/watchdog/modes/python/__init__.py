"""``python`` mode and its pieces: ``mode`` (the runner), ``loader`` (import the handler), ``mapping``
(return value → response), ``handler_pool`` (threads for sync handlers), ``inline_policy``
(``python_inline=auto``)."""
