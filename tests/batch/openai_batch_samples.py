"""Sample lines of the OpenAI Batch API's files, as OpenAI documents them.

Copied from OpenAI's Batch guide (https://platform.openai.com/docs/guides/batch, "Preparing
your batch file" and "Retrieving the results"; the same lines appear in the API reference,
"The request input object" and "The request output object"), whose input lines use these
four fields and whose output lines are ``{"id", "custom_id", "response": {"status_code",
"request_id", "body"}, "error"}``. ``error`` is ``{"code", "message"}`` for "requests that
failed with a non-HTTP error" (OpenAPI spec: ``BatchRequestOutput.error``).
"""

INPUT_LINES = [
    '{"custom_id": "request-1", "method": "POST", "url": "/v1/chat/completions", "body": {"model": '
    '"gpt-3.5-turbo-0125", "messages": [{"role": "system", "content": "You are a helpful assistant."},'
    '{"role": "user", "content": "Hello world!"}],"max_tokens": 1000}}',
    '{"custom_id": "request-2", "method": "POST", "url": "/v1/chat/completions", "body": {"model": '
    '"gpt-3.5-turbo-0125", "messages": [{"role": "system", "content": "You are an unhelpful assistant."},'
    '{"role": "user", "content": "Hello world!"}],"max_tokens": 1000}}',
]

OUTPUT_LINES = [
    '{"id": "batch_req_123", "custom_id": "request-2", "response": {"status_code": 200, "request_id": "req_123", '
    '"body": {"id": "chatcmpl-123", "object": "chat.completion", "created": 1711652795, "model": '
    '"gpt-3.5-turbo-0125", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello."}, '
    '"logprobs": null, "finish_reason": "stop"}], "usage": {"prompt_tokens": 22, "completion_tokens": 2, '
    '"total_tokens": 24}, "system_fingerprint": "fp_123"}}, "error": null}',
    '{"id": "batch_req_456", "custom_id": "request-1", "response": {"status_code": 200, "request_id": "req_789", '
    '"body": {"id": "chatcmpl-abc", "object": "chat.completion", "created": 1711652789, "model": '
    '"gpt-3.5-turbo-0125", "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello! How can I '
    'assist you today?"}, "logprobs": null, "finish_reason": "stop"}], "usage": {"prompt_tokens": 20, '
    '"completion_tokens": 9, "total_tokens": 29}, "system_fingerprint": "fp_3ba"}}, "error": null}',
]
