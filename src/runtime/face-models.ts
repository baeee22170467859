/**
 * The face detectors by their --faces-model name and the catalogue model behind each: shared by
 * the detector that loads one and the faces task's meta, which declares the one a run loads
 * (importing the detector there would load TensorFlow.js helpers for `imgpipe --help`).
 */
export const FACE_MODELS = { accurate: 'face-api-ssd-mobilenetv1', fast: 'human-blazeface-back' } as const;

export type FaceModel = keyof typeof FACE_MODELS;
