#!/usr/bin/env python3
"""deploy/aws/blindml_aws.py without an AWS account: botocore's Stubber answers every request,
after botocore validated it against its own EC2 / S3 / SSM service models (a wrong parameter name
or type fails here as it would at AWS), and each test fixes the exact sequence of calls.
Exit 77 (skipped) when boto3 is not installed (Debian package python3-boto3)."""
import gzip
import io
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import unittest

try:
    import boto3
    from botocore.stub import ANY, Stubber
except ImportError:
    print("SKIPPED container_aws_stub: boto3/botocore not installed (python3-boto3)", file=sys.stderr)
    sys.exit(77)

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "deploy", "aws"))
import blindml_aws as aws_mod  # noqa: E402

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
NAME = "demo"
TAG_FILTER = [{"Name": "tag:blindml:deployment", "Values": [NAME]}]
LIVE = ["pending", "running", "stopping", "stopped", "shutting-down"]


class Args:
    def __init__(self, d, **kw):
        self.dir, self.name, self.allow_cidr, self.force_open = d, NAME, "203.0.113.7/32", False
        self.arch, self.instance_type, self.os, self.port = "x86_64", None, "debian", 8000
        self.image_tar, self.ready_timeout = os.path.join(d, "image.tar.gz"), 60
        self.__dict__.update(kw)


class Stubbed:
    def __init__(self, region="eu-west-1"):
        session = boto3.session.Session(aws_access_key_id="AKIAIOSFODNN7EXAMPLE", aws_secret_access_key=SECRET,
                                        region_name=region)
        self.aws = aws_mod.Aws(region, session)
        self.ec2, self.s3, self.ssm = (Stubber(self.aws.ec2), Stubber(self.aws.s3), Stubber(self.aws.ssm))
        self.calls = []  # the order of requests across the three services
        for name, client in (("ec2", self.aws.ec2), ("s3", self.aws.s3), ("ssm", self.aws.ssm)):
            client.meta.events.register("before-parameter-build.*.*",
                                        lambda params, model, _n=name, context=None, **kw:
                                        None if (context or {}).get("is_presign_request")  # presigning sends nothing
                                        else self.calls.append((_n, model.name, dict(params))))
        for s in (self.ec2, self.s3, self.ssm):
            s.activate()

    def done(self, test):
        for s in (self.ec2, self.s3, self.ssm):
            s.assert_no_pending_responses()


def instances(iid=None, state="running", ip="198.51.100.20"):
    if iid is None:
        return {"Reservations": []}
    i = {"InstanceId": iid, "State": {"Name": state, "Code": 16}}
    if ip:
        i["PublicIpAddress"] = ip
    return {"Reservations": [{"Instances": [i]}]}


def expect_destroy(st, bucket, instance=None, foreign=True):
    """The calls destroy makes: instances by tag, terminate + wait, groups by tag, buckets by tag."""
    st.ec2.add_response("describe_instances", instances(instance, "running") if instance else instances(),
                        {"Filters": [TAG_FILTER[0], {"Name": "instance-state-name", "Values": LIVE}]})
    if instance:
        st.ec2.add_response("terminate_instances", {"TerminatingInstances": [{"InstanceId": instance}]},
                            {"InstanceIds": [instance]})
        st.ec2.add_response("describe_instances", instances(), {"Filters": ANY})
    st.ec2.add_response("describe_security_groups", {"SecurityGroups": [{"GroupId": "sg-0123456789abcdef0", "GroupName": "g"}]},
                        {"Filters": TAG_FILTER})
    st.ec2.add_response("delete_security_group", {}, {"GroupId": "sg-0123456789abcdef0"})
    names = [bucket] + (["blindml-demo-ffffffff", "blindml-demo-eeeeeeee", "someone-elses-bucket"] if foreign else [])
    st.s3.add_response("list_buckets", {"Buckets": [{"Name": n} for n in names]}, {})
    st.s3.add_response("get_bucket_tagging", {"TagSet": [{"Key": "blindml:deployment", "Value": NAME}]}, {"Bucket": bucket})
    st.s3.add_response("list_objects_v2", {"Contents": [{"Key": k} for k in ("client.zip", "server.zip", "image.tar.gz")]},
                       {"Bucket": bucket})
    st.s3.add_response("delete_objects", {}, {"Bucket": bucket, "Delete": {"Quiet": True, "Objects": [
        {"Key": "client.zip"}, {"Key": "server.zip"}, {"Key": "image.tar.gz"}]}})
    st.s3.add_response("delete_bucket", {}, {"Bucket": bucket})
    if foreign:  # same prefix, another deployment's tag: left alone
        st.s3.add_response("get_bucket_tagging", {"TagSet": [{"Key": "blindml:deployment", "Value": "demo-2"}]},
                           {"Bucket": "blindml-demo-ffffffff"})
        st.s3.add_client_error("get_bucket_tagging", "NoSuchTagSet", "no tags", 404,
                               expected_params={"Bucket": "blindml-demo-eeeeeeee"})


class AwsStubTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        d = self.tmp.name
        for f, data in (("client.zip", b"client bytes"), ("server.zip", b"server bytes")):
            with open(os.path.join(d, f), "wb") as out:
                out.write(data)
        raw = io.BytesIO()
        with tarfile.open(fileobj=raw, mode="w") as tar:
            m = json.dumps([{"Config": "x.json", "RepoTags": ["blindml/blindml:0.1.0"], "Layers": []}]).encode()
            info = tarfile.TarInfo("manifest.json"); info.size = len(m)
            tar.addfile(info, io.BytesIO(m))
        with gzip.open(os.path.join(d, "image.tar.gz"), "wb") as out:
            out.write(raw.getvalue())
        self.dir = d
        self.sleeps = []

    def tearDown(self):
        self.tmp.cleanup()

    def sleep(self, s):
        self.sleeps.append(s)

    def expect_deploy_until_run(self, st, bucket, region="eu-west-1"):
        st.ec2.add_response("describe_instances", instances(),
                            {"Filters": [TAG_FILTER[0], {"Name": "instance-state-name", "Values": LIVE}]})
        st.ssm.add_response("get_parameter", {"Parameter": {"Name": "x", "Value": "ami-0abcdef1234567890", "Type": "String"}},
                            {"Name": "/aws/service/debian/release/12/latest/amd64"})
        st.s3.add_response("create_bucket", {}, {"Bucket": bucket, "CreateBucketConfiguration": {"LocationConstraint": region}})
        st.s3.add_response("put_public_access_block", {}, {"Bucket": bucket, "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True}})
        st.s3.add_response("put_bucket_tagging", {}, {"Bucket": bucket, "Tagging": ANY})
        for key in ("client.zip", "server.zip", "image.tar.gz"):
            st.s3.add_response("put_object", {"ETag": '"x"'}, {"Bucket": bucket, "Key": key, "Body": ANY,
                                                               "ServerSideEncryption": "AES256"})
        st.ec2.add_response("create_security_group", {"GroupId": "sg-0123456789abcdef0"},
                            {"GroupName": f"blindml-{NAME}-0badf00d", "Description": ANY, "TagSpecifications": ANY})
        st.ec2.add_response("authorize_security_group_ingress", {"Return": True}, {
            "GroupId": "sg-0123456789abcdef0", "TagSpecifications": ANY,
            "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 8000, "ToPort": 8000,
                               "IpRanges": [{"CidrIp": "203.0.113.7/32", "Description": "blindml clients"}]}]})

    def test_deploy_requests_and_order(self):
        st = Stubbed()
        bucket = "blindml-demo-0badf00d"
        self.expect_deploy_until_run(st, bucket)
        st.ec2.add_response("run_instances", {"Instances": [{"InstanceId": "i-0123456789abcdef0"}]}, {
            "ImageId": "ami-0abcdef1234567890", "InstanceType": "t3.large", "MinCount": 1, "MaxCount": 1,
            "SecurityGroupIds": ["sg-0123456789abcdef0"], "UserData": ANY, "InstanceInitiatedShutdownBehavior": "terminate",
            "MetadataOptions": {"HttpTokens": "required", "HttpEndpoint": "enabled", "HttpPutResponseHopLimit": 1},
            "TagSpecifications": ANY})
        st.ec2.add_response("describe_instances", instances("i-0123456789abcdef0", "pending", None), {"Filters": ANY})
        st.ec2.add_response("describe_instances", instances("i-0123456789abcdef0"), {"Filters": ANY})
        probed = []
        url = aws_mod.deploy(st.aws, Args(self.dir), sleep=self.sleep, ready=lambda u: probed.append(u) or len(probed) > 1,
                             token="0badf00d")
        self.assertEqual(url, "http://198.51.100.20:8000")
        self.assertEqual(probed, [url, url])
        st.done(self)
        order = [(svc, op) for svc, op, _ in st.calls]
        self.assertEqual(order, [("ec2", "DescribeInstances"), ("ssm", "GetParameter"), ("s3", "CreateBucket"),
                                 ("s3", "PutPublicAccessBlock"), ("s3", "PutBucketTagging"), ("s3", "PutObject"),
                                 ("s3", "PutObject"), ("s3", "PutObject"), ("ec2", "CreateSecurityGroup"),
                                 ("ec2", "AuthorizeSecurityGroupIngress"), ("ec2", "RunInstances"),
                                 ("ec2", "DescribeInstances"), ("ec2", "DescribeInstances")])
        params = {op: p for _, op, p in st.calls}
        # Tags on everything created: bucket, group, rule, instance, volume, network interface.
        tagged = [params["PutBucketTagging"]["Tagging"]["TagSet"]]
        for op in ("CreateSecurityGroup", "AuthorizeSecurityGroupIngress", "RunInstances"):
            tagged += [spec["Tags"] for spec in params[op]["TagSpecifications"]]
        self.assertEqual(len(tagged), 6)
        for t in tagged:
            self.assertIn({"Key": "blindml:deployment", "Value": NAME}, t)
        self.assertEqual(sorted(s["ResourceType"] for s in params["RunInstances"]["TagSpecifications"]),
                         ["instance", "network-interface", "volume"])
        # Only the service port, only from the CIDR; nothing about port 22.
        perms = params["AuthorizeSecurityGroupIngress"]["IpPermissions"]
        self.assertEqual([(p["FromPort"], p["ToPort"]) for p in perms], [(8000, 8000)])
        # The user-data: the presigned URL and SHA-256 of each file, the image, no secret.
        ud = params["RunInstances"]["UserData"]
        self.assertTrue(ud.startswith("#!/bin/bash\n"))
        self.assertNotIn(SECRET, ud)
        self.assertIn("IMAGE=blindml/blindml:0.1.0", ud)
        import hashlib
        for key in ("client.zip", "server.zip", "image.tar.gz"):
            digest = hashlib.sha256(open(os.path.join(self.dir, key), "rb").read()).hexdigest()
            self.assertRegex(ud, rf"fetch {key} 'https://{bucket}\.s3\.[a-z0-9.-]*amazonaws\.com/{key}\?[^']*Signature[^']*' {digest}")
        subprocess.run(["bash", "-n"], input=ud.encode(), check=True)

    def test_failed_deploy_removes_what_it_created(self):
        st = Stubbed()
        bucket = "blindml-demo-0badf00d"
        self.expect_deploy_until_run(st, bucket)
        st.ec2.add_client_error("run_instances", "InsufficientInstanceCapacity", "no capacity", 500)
        expect_destroy(st, bucket)
        with self.assertRaises(Exception) as e:
            aws_mod.deploy(st.aws, Args(self.dir), sleep=self.sleep, ready=lambda u: True, token="0badf00d")
        self.assertIn("InsufficientInstanceCapacity", str(e.exception))
        st.done(self)
        ops = [op for _, op, _ in st.calls]
        self.assertEqual(ops[ops.index("RunInstances") + 1:], [
            "DescribeInstances", "DescribeSecurityGroups", "DeleteSecurityGroup", "ListBuckets", "GetBucketTagging",
            "ListObjectsV2", "DeleteObjects", "DeleteBucket", "GetBucketTagging", "GetBucketTagging"])

    def test_instance_never_ready_is_torn_down(self):
        st = Stubbed()
        bucket = "blindml-demo-0badf00d"
        self.expect_deploy_until_run(st, bucket)
        st.ec2.add_response("run_instances", {"Instances": [{"InstanceId": "i-0123456789abcdef0"}]}, None)
        st.ec2.add_response("describe_instances", instances("i-0123456789abcdef0"), {"Filters": ANY})
        expect_destroy(st, bucket, instance="i-0123456789abcdef0", foreign=False)
        args = Args(self.dir, ready_timeout=0)
        with self.assertRaises(aws_mod.DeployError):
            aws_mod.deploy(st.aws, args, sleep=self.sleep, ready=lambda u: False, token="0badf00d")
        st.done(self)
        self.assertIn(("ec2", "TerminateInstances"), [(s, o) for s, o, _ in st.calls])

    def test_open_cidr_refused_before_any_request(self):
        st = Stubbed()
        for cidr in ("0.0.0.0/0", "0.0.0.0/0 ".strip()):
            with self.assertRaisesRegex(aws_mod.DeployError, "whole Internet"):
                aws_mod.deploy(st.aws, Args(self.dir, allow_cidr=cidr), sleep=self.sleep)
        with self.assertRaisesRegex(aws_mod.DeployError, "allow-cidr"):
            aws_mod.deploy(st.aws, Args(self.dir, allow_cidr="not-a-cidr"), sleep=self.sleep)
        self.assertEqual(st.calls, [])
        self.assertEqual(aws_mod.check_cidr("0.0.0.0/0", force_open=True), "0.0.0.0/0")
        self.assertEqual(aws_mod.check_cidr("198.51.100.9/24", force_open=False), "198.51.100.0/24")

    def test_ami_lookup_falls_back_to_describe_images_arm64(self):
        st = Stubbed(region="us-east-1")
        st.ssm.add_client_error("get_parameter", "ParameterNotFound", "no", 400,
                                expected_params={"Name": "/aws/service/debian/release/12/latest/arm64"})
        st.ec2.add_response("describe_images", {"Images": [
            {"ImageId": "ami-old", "CreationDate": "2025-01-01T00:00:00.000Z"},
            {"ImageId": "ami-new", "CreationDate": "2025-06-01T00:00:00.000Z"}]},
            {"Owners": ["136693071363"], "Filters": [{"Name": "name", "Values": ["debian-12-arm64-*"]},
                                                     {"Name": "architecture", "Values": ["arm64"]},
                                                     {"Name": "state", "Values": ["available"]}]})
        self.assertEqual(aws_mod.lookup_ami(st.aws.ssm, st.aws.ec2, "debian", "arm64"), "ami-new")
        st.done(self)

    def test_destroy_finds_everything_by_tag(self):
        st = Stubbed()
        expect_destroy(st, "blindml-demo-12345678", instance="i-0fedcba9876543210")
        aws_mod.destroy(st.aws, NAME, sleep=self.sleep)
        st.done(self)

    def test_existing_deployment_refused(self):
        st = Stubbed()
        st.ec2.add_response("describe_instances", instances("i-0123456789abcdef0"), {"Filters": ANY})
        with self.assertRaisesRegex(aws_mod.DeployError, "exists already"):
            aws_mod.deploy(st.aws, Args(self.dir), sleep=self.sleep)
        st.done(self)
        self.assertEqual([o for _, o, _ in st.calls], ["DescribeInstances"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
