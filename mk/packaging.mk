# mk/packaging.mk - Debian packages (debian/, debhelper) and their install test.
#
#   make deb        $(BUILD)/deb/*.deb: loom-dkms (loom.ko source for DKMS, the udev
#                   rule, group loom), libloom0, libloom-dev, loom-tools, loomd
#                   (systemd units, user loom); built from a copy of the working tree
#   make test-deb   installs them with apt into a clean Debian 12 chroot (debootstrap,
#                   from deb.debian.org; cached in $(BUILD)/deb) and runs loomctl
#                   examine from the installed files; needs root and the mirror

# dkms itself is needed only where loom-dkms is installed (the test's chroot gets it from apt).
DEPS_PACKAGES += debhelper dh-dkms fakeroot debootstrap

DEB_DIR     := $(BUILD)/deb
DEB_VERSION := $(shell dpkg-parsechangelog -l debian/changelog -S Version 2>/dev/null)
DEB_SRC     := $(DEB_DIR)/loom-$(DEB_VERSION)
DEB_CHROOT  := $(DEB_DIR)/bookworm-minbase.tar
DEB_MIRROR  ?= http://deb.debian.org/debian

.PHONY: deb test-deb

# The tracked and untracked-but-not-ignored files (what a commit would hold),
# built by dpkg-buildpackage; the .debs land next to the copy, in $(DEB_DIR).
deb:
	@rm -rf $(DEB_SRC) $(DEB_DIR)/*.deb $(DEB_DIR)/*.buildinfo $(DEB_DIR)/*.changes
	@mkdir -p $(DEB_SRC)
	@git ls-files -co --exclude-standard | tar -cf - -T - | tar -xf - -C $(DEB_SRC)
	@cd $(DEB_SRC) && dpkg-buildpackage -b -us -uc -j2 > ../build.log 2>&1 || \
	    { tail -30 ../build.log; exit 1; }
	@ls $(DEB_DIR)/*.deb

# A clean Debian 12 (minbase), made once and kept as a tarball.
$(DEB_CHROOT):
	@mkdir -p $(DEB_DIR)
	rm -rf $(DEB_DIR)/bookworm-root
	debootstrap --variant=minbase bookworm $(DEB_DIR)/bookworm-root $(DEB_MIRROR) \
	    > $(DEB_DIR)/debootstrap.log
	tar -C $(DEB_DIR)/bookworm-root -cf $@.tmp . && mv $@.tmp $@ && rm -rf $(DEB_DIR)/bookworm-root

test-deb: deb $(DEB_CHROOT)
	@tests/deb/test-deb.sh $(DEB_DIR) $(DEB_CHROOT)
