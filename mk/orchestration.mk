# mk/orchestration.mk - Loom beyond one host: the Kubernetes and KServe manifests in
# deploy/ and their checks. Included by the top-level Makefile after mk/loomd.mk
# (alphabetical order), whose $(LOOMD) and $(LOOMD_REPO) it uses.
#
#   make test-deploy           the manifests, offline: core objects against the Kubernetes
#                              OpenAPI schemas (kubernetes-validate --strict, oldest and
#                              newest versions it ships), KServe objects against
#                              deploy/kserve/kserve.schema.json; broken fixtures must fail
#   make test-deploy-contract  loomd started as the ClusterServingRuntime's container
#                              (same arguments, /mnt/models, 0.0.0.0:8080 in a network
#                              namespace of its own); needs root

PY_PACKAGES += kubernetes-validate jsonschema
TEST_SUITES += test-deploy test-deploy-contract

.PHONY: test-deploy test-deploy-contract

test-deploy:
	@$(VENV)/bin/python tests/deploy/validate.py .

test-deploy-contract: $(LOOMD) $(LOOMD_REPO)/.stamp
	@BUILD=$(BUILD) tests/deploy/contract.sh

