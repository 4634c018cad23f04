"""The Open Inference Protocol over gRPC: messages, the pure translation, the service, the client transport.

The gRPC service is a second thin translation over the same catalog and batchers
as the REST endpoints, served from the same process and event loop (``grpc.aio``).
Needs the ``grpc`` extra: ``pip install 'mldeploy[grpc]'``.
"""
