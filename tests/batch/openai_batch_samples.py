"""Sample lines of the OpenAI Batch API's files, in the shape OpenAI documents them.

Written here after OpenAI's Batch guide (https://platform.openai.com/docs/guides/batch,
"Preparing your batch file" and "Retrieving the results") and the API reference ("The
request input object", "The request output object"): input lines carry exactly the four
fields ``custom_id``, ``method``, ``url``, ``body``; output lines are ``{"id", "custom_id",
"response": {"status_code", "request_id", "body"}, "error"}``, with ``error`` ``{"code",
"message"}`` for "requests that failed with a non-HTTP error" (OpenAPI spec:
``BatchRequestOutput.error``). The values are ours.
"""

INPUT_LINES = [
    '{"custom_id": "request-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": '
    '"gpt-4o-mini-2024-07-18", "messages": [{"role": "system", "content": "You answer in one word."},'
    '{"role": "user", "content": "Name a color."}],"max_tokens": 64}}',
    '{"custom_id": "request-2", "method": "POST", "url": "/v1/chat/completions", "body": {"model": '
    '"gpt-4o-mini-2024-07-18", "messages": [{"role": "system", "content": "You answer in French."},'
    '{"role": "user", "content": "Name a color."}],"max_tokens": 64}}',
]

OUTPUT_LINES = [
    '{"id": "batch_req_7f3a", "custom_id": "request-2", "response": {"status_code": 200, "request_id": "req_4d2b", '
    '"body": {"id": "chatcmpl-B1x", "object": "chat.completion", "created": 1733312400, "model": '
    '"gpt-4o-mini-2024-07-18", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Rouge."}, '
    '"logprobs": null, "finish_reason": "stop"}], "usage": {"prompt_tokens": 21, "completion_tokens": 3, '
    '"total_tokens": 24}, "system_fingerprint": "fp_0a1b"}}, "error": null}',
    '{"id": "batch_req_9c1e", "custom_id": "request-1", "response": {"status_code": 200, "request_id": "req_8e6f", '
    '"body": {"id": "chatcmpl-B2y", "object": "chat.completion", "created": 1733312401, "model": '
    '"gpt-4o-mini-2024-07-18", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Blue."}, '
    '"logprobs": null, "finish_reason": "stop"}], "usage": {"prompt_tokens": 20, '
    '"completion_tokens": 2, "total_tokens": 22}, "system_fingerprint": "fp_0a1b"}}, "error": null}',
]
