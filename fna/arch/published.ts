// The searched architectures FNA published (spec §3.4), exactly as their retrain configs print them.
import { parseFnaNetConfig } from './net-config.ts';

export const FNA_RETINANET_NET_CONFIG = `[[32, 16], ['k3_e1'], 1]|
[[16, 24], ['k3_e6', 'k3_e6', 'skip', 'skip'], 2]|
[[24, 32], ['k7_e6', 'k5_e6', 'skip', 'skip'], 2]|
[[32, 64], ['k3_e6', 'k5_e6', 'k7_e6', 'k3_e6'], 2]|
[[64, 96], ['k5_e6', 'k7_e6', 'skip', 'skip'], 1]|
[[96, 160], ['k7_e6', 'k7_e6', 'k7_e3', 'k7_e6'], 2]|
[[160, 320], ['k7_e6'], 1]`;

export const FNA_SSDLITE_NET_CONFIG = `[[32, 16], ['k3_e1'], 1]|
[[16, 24], ['k5_e6', 'skip', 'skip', 'skip'], 2]|
[[24, 32], ['k5_e6', 'k5_e6', 'k3_e6', 'k5_e6'], 2]|
[[32, 64], ['k5_e6', 'k7_e6', 'k3_e6', 'skip'], 2]|
[[64, 96], ['k7_e6', 'k7_e6', 'k7_e6', 'k7_e6'], 1]|
[[96, 160], ['k5_e6', 'k7_e6', 'k7_e6', 'skip'], 2]|
[[160, 320], ['k7_e6'], 1]`;

export const FNA_DEEPLABV3_NET_CONFIG = `[[32, 16], ['k3_e1'], 1]|
[[16, 24], ['k3_e6', 'k3_e6', 'skip', 'skip'], 2]|
[[24, 32], ['k7_e6', 'k3_e6', 'k3_e6', 'k3_e6'], 2]|
[[32, 64], ['k7_e6', 'k7_e6', 'k5_e6', 'k7_e6', 'k7_e6', 'k5_e6'], 2]|
[[64, 96], ['k7_e6', 'k7_e6', 'k7_e6', 'k7_e6', 'skip', 'skip'], 1]|
[[96, 160], ['k7_e6', 'k5_e6', 'skip', 'skip'], 2]|
[[160, 320], ['k7_e3'], 1]`;

/** RetinaNet backbone (FPN reads blocks 2, 3, 5, 7); mmdet default BN eps. */
export const FNA_RETINANET_ARCH = parseFnaNetConfig(FNA_RETINANET_NET_CONFIG, { bnEps: 1e-5 });

/** SSDLite backbone keeps the 1280-channel 1x1 conv (block 8); BN eps 1e-3. */
export const FNA_SSDLITE_ARCH = parseFnaNetConfig(FNA_SSDLITE_NET_CONFIG, { bnEps: 1e-3, head: { out: 1280 } });

/** DeepLabv3 backbone at output stride 16, no 1280 conv; BN eps 1e-5. */
export const FNA_DEEPLABV3_ARCH = parseFnaNetConfig(FNA_DEEPLABV3_NET_CONFIG, { bnEps: 1e-5, outputStride: 16 });
