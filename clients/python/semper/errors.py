"""Typed errors: every failed call of a semper daemon as a SemperError carrying the gRPC code,
the stable reason (semper.v1.ErrorReason, docs/errors.md), the ErrorInfo metadata (the facts:
the field at fault, a limit, an existing object's id) and the retry delay of a rate limit."""

import grpc

from semper._vendor import error_details_pb2, status_pb2

_ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
_RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"


class SemperError(Exception):
    """A call a daemon refused. `reason` is the ErrorReason name ("LIMIT_EXCEEDED"), or for an
    answer without details (the TLS gate, an unknown method) the name of the gRPC code, and
    `detailed` is False."""

    def __init__(self, code, message, reason, metadata=None, retry_after=None, detailed=True):
        super().__init__(f"{code.name} {reason}: {message}")
        self.code = code
        self.message = message
        self.reason = reason
        self.metadata = dict(metadata or {})
        self.retry_after = retry_after  # seconds, for RESOURCE_EXHAUSTED
        self.detailed = detailed  # False: no ErrorInfo came (the transport's answers)

    @classmethod
    def from_rpc_error(cls, error):
        code = error.code()
        message = error.details() or ""
        reason, metadata, retry_after, detailed = code.name, {}, None, False
        for key, value in error.trailing_metadata() or ():
            if key != "grpc-status-details-bin":
                continue
            status = status_pb2.Status.FromString(value)
            for detail in status.details:
                if detail.type_url == _ERROR_INFO:
                    info = error_details_pb2.ErrorInfo.FromString(detail.value)
                    reason, metadata, detailed = info.reason, dict(info.metadata), True
                elif detail.type_url == _RETRY_INFO:
                    retry = error_details_pb2.RetryInfo.FromString(detail.value)
                    retry_after = retry.retry_delay.seconds + retry.retry_delay.nanos / 1e9
        return cls(code, message, reason, metadata, retry_after, detailed)


def call(method, request, timeout=30, metadata=None):
    """Calls a stub method; a refusal is raised as SemperError instead of grpc.RpcError."""
    try:
        return method(request, timeout=timeout, metadata=metadata)
    except grpc.RpcError as error:
        if not hasattr(error, "code"):
            raise
        raise SemperError.from_rpc_error(error) from None
