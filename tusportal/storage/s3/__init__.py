"""S3-compatible object storage through the minio client: the only package that imports minio."""

from tusportal.storage.s3.client import RetryPolicy, StorageInconsistent, StorageMisconfigured
from tusportal.storage.s3.store import S3Config, S3Store

__all__ = ["RetryPolicy", "S3Config", "S3Store", "StorageInconsistent", "StorageMisconfigured"]
