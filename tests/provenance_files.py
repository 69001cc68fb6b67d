"""Pictures carrying each kind of provenance, made in the test run: C2PA-signed (with a certificate chain
generated here), signed then altered, IPTC digital source type in XMP, an Automatic1111 PNG, a stripped copy."""

from __future__ import annotations

import datetime
import io

from PIL import Image
from PIL.PngImagePlugin import PngInfo

IPTC_AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"


def signing_chain() -> tuple[bytes, bytes]:
    """(certificate chain PEM: leaf then CA, leaf's private key PEM): an ES256 chain as C2PA requires."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    def name(common: str) -> x509.Name:
        organisation = x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Test Generator Inc")
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common), organisation])

    def usage(sign_certs: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=not sign_certs, content_commitment=False, key_encipherment=False, data_encipherment=False,
            key_agreement=False, key_cert_sign=sign_certs, crl_sign=sign_certs, encipher_only=False, decipher_only=False,
        )  # fmt: skip

    now = datetime.datetime.now(datetime.UTC)
    valid = {"not_valid_before": now - datetime.timedelta(days=1), "not_valid_after": now + datetime.timedelta(days=30)}
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder(subject_name=name("Test Root CA"), issuer_name=name("Test Root CA"),
                                public_key=ca_key.public_key(), serial_number=x509.random_serial_number(), **valid)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(usage(True), critical=True)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    leaf = (
        x509.CertificateBuilder(subject_name=name("Test Signer"), issuer_name=ca.subject, public_key=key.public_key(),
                                serial_number=x509.random_serial_number(), **valid)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )  # fmt: skip
    pem = serialization.Encoding.PEM
    chain = leaf.public_bytes(pem) + ca.public_bytes(pem)
    return chain, key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())


def encode(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def c2pa_signed(image: Image.Image, fmt: str = "JPEG", source_type: str = IPTC_AI) -> bytes:
    """The picture with a C2PA manifest: created by 'TestGen AI', declaring `source_type`, signed."""
    import c2pa

    chain, key = signing_chain()
    signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(alg=b"es256", sign_cert=chain, private_key=key, ta_url=None))
    manifest = {
        "claim_generator_info": [{"name": "TestGen AI", "version": "1.0"}],
        "title": "portrait",
        "assertions": [
            {"label": "c2pa.actions", "data": {"actions": [{"action": "c2pa.created", "digitalSourceType": source_type}]}}
        ],
    }
    mime = {"JPEG": "image/jpeg", "PNG": "image/png"}[fmt]
    out = io.BytesIO()
    with c2pa.Builder(manifest) as builder:
        builder.sign(signer, mime, io.BytesIO(encode(image, fmt)), out)
    return out.getvalue()


def altered_after_signing(signed_jpeg: bytes) -> bytes:
    """The signed JPEG with some of its pixel data changed afterwards (the manifest left as it was)."""
    data = bytearray(signed_jpeg)
    end = len(data) - 2  # before the EOI marker, inside the entropy-coded scan
    for i in range(end - 400, end - 200, 7):
        data[i] ^= 0x5A
    return bytes(data)


def with_xmp_source_type(image: Image.Image, source_type: str = IPTC_AI) -> bytes:
    xmp = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
        f'Iptc4xmpExt:DigitalSourceType="{source_type}"/></rdf:RDF></x:xmpmeta>'
    )
    return encode(image, "JPEG", quality=92, xmp=xmp.encode())


def automatic1111_png(image: Image.Image) -> bytes:
    info = PngInfo()
    info.add_text("parameters", "portrait photo, 85mm\nSteps: 30, Sampler: DPM++ 2M, CFG scale: 7, Seed: 1, Model: sdxl")
    return encode(image, "PNG", pnginfo=info)


def stripped(data: bytes) -> bytes:
    """Decoded and re-encoded, as most platforms do: pixels kept, every declaration gone."""
    return encode(Image.open(io.BytesIO(data)).convert("RGB"), "JPEG", quality=92)
