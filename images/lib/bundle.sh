# shellcheck shell=bash
# Signing keys and update bundles (sourced by images/build.sh), through
# `filterbox update` of the binary just built (static: it runs here too).

# Sets SECRET_KEY and PUBLIC_KEY: FILTERBOX_SIGNING_KEY (a PEM secret key;
# its public key is derived into the build directory), else the development
# pair images/out/dev-key.{sec,pub}, made on first use.
select_keys() {
    if [ -n "${FILTERBOX_SIGNING_KEY:-}" ]; then
        SECRET_KEY=$FILTERBOX_SIGNING_KEY
        PUBLIC_KEY=$BUILD/update.pub
        [ -f "$SECRET_KEY" ] || die "FILTERBOX_SIGNING_KEY: no file $SECRET_KEY"
        mkdir -p "$BUILD"
        "$BINARY" update pubkey --key "$SECRET_KEY" --output "$PUBLIC_KEY" >&2 ||
            die "cannot derive the public key of $SECRET_KEY"
        return
    fi
    SECRET_KEY=$OUT/dev-key.sec
    PUBLIC_KEY=$OUT/dev-key.pub
    if [ ! -f "$SECRET_KEY" ]; then
        log "making the development key pair $OUT/dev-key.{sec,pub}"
        rm -f "$PUBLIC_KEY"
        "$BINARY" update keygen --output "$OUT/dev-key" >&2 || die "filterbox update keygen failed"
    fi
    [ -f "$PUBLIC_KEY" ] || die "$SECRET_KEY has no public key $PUBLIC_KEY"
}

# Signs $BUILD/images/rootfs.squashfs into images/out/filterbox-<version>-x86_64.fbu.
make_bundle() {
    local bundle=$OUT/filterbox-$FILTERBOX_VERSION-x86_64.fbu
    "$BINARY" update sign --key "$SECRET_KEY" --rootfs "$BUILD/images/rootfs.squashfs" \
        --version "$FILTERBOX_VERSION" --board "$BOARD_NAME" --created "$SOURCE_DATE_EPOCH" \
        --output "$bundle" >&2 ||
        die "filterbox update sign failed"
    log "bundle $bundle: $(stat -c %s "$bundle") bytes"
}
