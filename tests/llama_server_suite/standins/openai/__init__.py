"""A small stand-in for the official `openai` Python package (which cannot be
installed here: it is not a Debian package). It covers what llama.cpp's server
test suite uses: OpenAI(api_key, base_url), client.chat.completions.create and
client.completions.create, plain and streamed, with attribute access on the
results (absent fields read as None, like the SDK's models), and the SDK's
error classes. It speaks HTTP with `requests` (python3-requests).
"""
import json

import requests

__all__ = ["OpenAI", "OpenAIError", "APIError", "APIStatusError", "APIConnectionError",
           "AuthenticationError", "BadRequestError", "NotFoundError"]


class OpenAIError(Exception):
    pass


class APIError(OpenAIError):
    def __init__(self, message, body=None, status_code=None):
        super().__init__(message)
        self.message = message
        self.body = body
        self.status_code = status_code


class APIStatusError(APIError):
    pass


class APIConnectionError(APIError):
    pass


class BadRequestError(APIStatusError):
    pass


class AuthenticationError(APIStatusError):
    pass


class NotFoundError(APIStatusError):
    pass


_BY_STATUS = {400: BadRequestError, 401: AuthenticationError, 404: NotFoundError}


class _Obj:
    """JSON object with attribute access; a missing attribute is None."""

    def __init__(self, data):
        self._data = data

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return _wrap(self._data.get(name))

    def __getitem__(self, key):
        return _wrap(self._data[key])

    def model_dump(self):
        return self._data

    def to_dict(self):
        return self._data

    def __repr__(self):
        return "Obj(" + json.dumps(self._data) + ")"


def _wrap(v):
    if isinstance(v, dict):
        return _Obj(v)
    if isinstance(v, list):
        return [_wrap(x) for x in v]
    return v


class _Stream:
    def __init__(self, response):
        self._response = response

    def __iter__(self):
        for raw in self._response.iter_lines():
            line = raw.decode("utf-8")
            if not line.startswith("data: "):
                continue
            payload = line[6:]
            if payload.strip() == "[DONE]":
                break
            data = json.loads(payload)
            if "error" in data:
                raise APIError(str(data["error"]), body=data)
            yield _wrap(data)


class _Endpoint:
    def __init__(self, client, path):
        self._client = client
        self._path = path

    def create(self, stream=False, extra_body=None, **kwargs):
        body = {k: v for k, v in kwargs.items() if v is not None}
        if stream:
            body["stream"] = True
        if extra_body:
            body.update(extra_body)
        return self._client._post(self._path, body, stream)


class _Chat:
    def __init__(self, client):
        self.completions = _Endpoint(client, "/chat/completions")


class OpenAI:
    def __init__(self, api_key=None, base_url=None, timeout=600, **_):
        self.api_key = api_key
        self.base_url = (base_url or "https://api.openai.com/v1").rstrip("/")
        self.timeout = timeout
        self.chat = _Chat(self)
        self.completions = _Endpoint(self, "/completions")

    def _post(self, path, body, stream):
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = "Bearer " + self.api_key
        try:
            r = requests.post(self.base_url + path, json=body, headers=headers, stream=stream, timeout=self.timeout)
        except requests.RequestException as e:
            raise APIConnectionError(str(e)) from e
        if r.status_code >= 400:
            try:
                data = r.json()
            except ValueError:
                data = r.text
            cls = _BY_STATUS.get(r.status_code, APIStatusError)
            raise cls("Error code: %d - %s" % (r.status_code, data), body=data, status_code=r.status_code)
        return _Stream(r) if stream else _wrap(r.json())
