# TokenPose-S-v2 (Li et al., ICCV 2021): TokenPose-S-v1 with 2x2 patches of the
# 64x48 stem map (768 visual tokens), batch 12/GPU as in the official
# tokenpose_s_v2_256_192_patch22_dim192_depth12_heads8.yaml; the rest,
# including the recipe (augmentation, DARK codec, no warm-up) and what still
# differs from the official code, is S-v1's (see its header).
_base_ = ['./tokenpose-s-v1_stem_4xb32-300e_coco-256x192.py']

model = dict(head=dict(patch_size=(2, 2)))

train_dataloader = dict(batch_size=12)
auto_scale_lr = dict(base_batch_size=48)
