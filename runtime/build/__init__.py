"""Container images without a Docker daemon: ``pyfaas build`` and ``pyfaas push``.

Images are assembled from a base image's layers plus layers of files, the way ``ko``, ``jib`` and ``apko``
work. :mod:`~pyfaas.build.function` reads a template's Dockerfile (any language: :mod:`~pyfaas.build.shell`
reads its ``RUN`` lines, :mod:`~pyfaas.build.debian` and :mod:`~pyfaas.build.toolchains` do what they ask);
:mod:`~pyfaas.build.platform` makes the platform's images; :mod:`~pyfaas.build.oci` writes reproducible
layers, layouts and archives; :mod:`~pyfaas.build.registry` speaks the OCI distribution API. This layer
imports only ``pyfaas.core``.
"""
