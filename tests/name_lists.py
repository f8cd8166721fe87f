"""Keypoint name lists of the conventions in wide use, typed in from their public
definitions (order included), and the pairs into COCO-17 that a person who knows both
skeletons writes by hand. Used by test_names.py.
"""

# -- the name lists (public definitions) -----------------------------------------------------
COCO_17 = ["nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder",
           "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
           "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle"]
FINGERS = ["thumb", "forefinger", "middle_finger", "ring_finger", "pinky_finger"]
HANDS = [f"{s}_{p}" for s in ("left", "right") for p in
         ["hand_root"] + [f"{f}{k}" for f in FINGERS for k in range(1, 5)]]
FACE_68 = [f"face-{i}" for i in range(68)]
WB_FEET = ["left_big_toe", "left_small_toe", "left_heel", "right_big_toe", "right_small_toe",
           "right_heel"]
COCO_WHOLEBODY_133 = COCO_17 + WB_FEET + FACE_68 + HANDS
# AI Challenger, as its annotation guide writes them
AIC_14 = ["right shoulder", "right elbow", "right wrist", "left shoulder", "left elbow",
          "left wrist", "right hip", "right knee", "right ankle", "left hip", "left knee",
          "left ankle", "top of head", "neck"]
MPII_16 = ["r ankle", "r knee", "r hip", "l hip", "l knee", "l ankle", "pelvis", "thorax",
           "upper neck", "head top", "r wrist", "r elbow", "r shoulder", "l shoulder",
           "l elbow", "l wrist"]
# CrowdPose's annotation files call the head top 'head' (MMPose: 'top_head')
CROWDPOSE_14 = ["left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
                "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
                "right_ankle", "head", "neck"]
HALPE_26 = COCO_17 + ["head", "neck", "hip", "left_big_toe", "right_big_toe",
                      "left_small_toe", "right_small_toe", "left_heel", "right_heel"]
HALPE_136 = HALPE_26 + FACE_68 + HANDS
OPENPOSE_BODY_25 = ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow",
                    "LWrist", "MidHip", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle",
                    "REye", "LEye", "REar", "LEar", "LBigToe", "LSmallToe", "LHeel",
                    "RBigToe", "RSmallToe", "RHeel"]
OPENPOSE_COCO_18 = ["Nose", "Neck", "RShoulder", "RElbow", "RWrist", "LShoulder", "LElbow",
                    "LWrist", "RHip", "RKnee", "RAnkle", "LHip", "LKnee", "LAnkle", "REye",
                    "LEye", "REar", "LEar"]
H36M_17 = ["Hip", "RHip", "RKnee", "RFoot", "LHip", "LKnee", "LFoot", "Spine", "Thorax",
           "Neck/Nose", "Head", "LShoulder", "LElbow", "LWrist", "RShoulder", "RElbow",
           "RWrist"]
SMPL_24 = ["pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
           "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
           "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
           "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand"]
# a DeepLabCut project's bodyparts, in the style of DLC's examples (one lower-case word)
DLC_HUMAN = ["nose", "lefteye", "righteye", "leftear", "rightear", "leftshoulder",
             "rightshoulder", "leftelbow", "rightelbow", "leftwrist", "rightwrist", "lefthip",
             "righthip", "leftknee", "rightknee", "leftankle", "rightankle", "forehead", "chin"]
# a depth camera: Kinect v2's 25 joints (JointType order)
KINECT_25 = ["SpineBase", "SpineMid", "Neck", "Head", "ShoulderLeft", "ElbowLeft", "WristLeft",
             "HandLeft", "ShoulderRight", "ElbowRight", "WristRight", "HandRight", "HipLeft",
             "KneeLeft", "AnkleLeft", "FootLeft", "HipRight", "KneeRight", "AnkleRight",
             "FootRight", "SpineShoulder", "HandTipLeft", "ThumbLeft", "HandTipRight",
             "ThumbRight"]
MEDIAPIPE_33 = ["nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner",
                "right_eye", "right_eye_outer", "left_ear", "right_ear", "mouth_left",
                "mouth_right", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow",
                "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index",
                "right_index", "left_thumb", "right_thumb", "left_hip", "right_hip",
                "left_knee", "right_knee", "left_ankle", "right_ankle", "left_heel",
                "right_heel", "left_foot_index", "right_foot_index"]

# -- expected pairs, by hand: source name -> COCO-17 name -------------------------------------
SAME = {n: n for n in COCO_17}
AIC_TO_COCO = {"right shoulder": "right_shoulder", "right elbow": "right_elbow",
               "right wrist": "right_wrist", "left shoulder": "left_shoulder",
               "left elbow": "left_elbow", "left wrist": "left_wrist",
               "right hip": "right_hip", "right knee": "right_knee",
               "right ankle": "right_ankle", "left hip": "left_hip", "left knee": "left_knee",
               "left ankle": "left_ankle"}
MPII_TO_COCO = {"r ankle": "right_ankle", "r knee": "right_knee", "r hip": "right_hip",
                "l hip": "left_hip", "l knee": "left_knee", "l ankle": "left_ankle",
                "r wrist": "right_wrist", "r elbow": "right_elbow",
                "r shoulder": "right_shoulder", "l shoulder": "left_shoulder",
                "l elbow": "left_elbow", "l wrist": "left_wrist"}
CROWDPOSE_TO_COCO = {n: n for n in CROWDPOSE_14[:12]}
OPENPOSE_TO_COCO = {"Nose": "nose", "LEye": "left_eye", "REye": "right_eye",
                    "LEar": "left_ear", "REar": "right_ear", "LShoulder": "left_shoulder",
                    "RShoulder": "right_shoulder", "LElbow": "left_elbow",
                    "RElbow": "right_elbow", "LWrist": "left_wrist", "RWrist": "right_wrist",
                    "LHip": "left_hip", "RHip": "right_hip", "LKnee": "left_knee",
                    "RKnee": "right_knee", "LAnkle": "left_ankle", "RAnkle": "right_ankle"}
H36M_TO_COCO = {"RHip": "right_hip", "RKnee": "right_knee", "RFoot": "right_ankle",
                "LHip": "left_hip", "LKnee": "left_knee", "LFoot": "left_ankle",
                "LShoulder": "left_shoulder", "LElbow": "left_elbow", "LWrist": "left_wrist",
                "RShoulder": "right_shoulder", "RElbow": "right_elbow",
                "RWrist": "right_wrist"}
SMPL_TO_COCO = {n: n for n in ["left_hip", "right_hip", "left_knee", "right_knee",
                               "left_ankle", "right_ankle", "left_shoulder", "right_shoulder",
                               "left_elbow", "right_elbow", "left_wrist", "right_wrist"]}
DLC_TO_COCO = {"nose": "nose", "lefteye": "left_eye", "righteye": "right_eye",
               "leftear": "left_ear", "rightear": "right_ear",
               "leftshoulder": "left_shoulder", "rightshoulder": "right_shoulder",
               "leftelbow": "left_elbow", "rightelbow": "right_elbow",
               "leftwrist": "left_wrist", "rightwrist": "right_wrist", "lefthip": "left_hip",
               "righthip": "right_hip", "leftknee": "left_knee", "rightknee": "right_knee",
               "leftankle": "left_ankle", "rightankle": "right_ankle"}
KINECT_TO_COCO = {"ShoulderLeft": "left_shoulder", "ElbowLeft": "left_elbow",
                  "WristLeft": "left_wrist", "ShoulderRight": "right_shoulder",
                  "ElbowRight": "right_elbow", "WristRight": "right_wrist",
                  "HipLeft": "left_hip", "KneeLeft": "left_knee", "AnkleLeft": "left_ankle",
                  "HipRight": "right_hip", "KneeRight": "right_knee",
                  "AnkleRight": "right_ankle"}
MEDIAPIPE_TO_COCO = {n: n for n in COCO_17}

# convention: (schema name, names, -> COCO-17, extra pairs into coco_aic, guesses, -> WB count)
CONVENTIONS = {
    "coco17": ("coco", COCO_17, SAME, {}, set(), 17),
    "coco_wholebody133": ("coco_wholebody", COCO_WHOLEBODY_133, SAME, {}, set(), 133),
    "aic14": ("aic", AIC_14, AIC_TO_COCO, {"top of head": "head_top", "neck": "neck"},
              set(), 12),
    "mpii16": ("mpii", MPII_16, MPII_TO_COCO, {"head top": "head_top", "thorax": "neck"},
               {"thorax"}, 12),
    "crowdpose14": ("crowdpose", CROWDPOSE_14, CROWDPOSE_TO_COCO,
                    {"head": "head_top", "neck": "neck"}, set(), 12),
    "halpe26": ("halpe26", HALPE_26, SAME, {"head": "head_top", "neck": "neck"}, set(), 23),
    "halpe136": ("halpe", HALPE_136, SAME, {"head": "head_top", "neck": "neck"}, set(), 133),
    "openpose_body25": ("openpose", OPENPOSE_BODY_25, OPENPOSE_TO_COCO, {"Neck": "neck"},
                        set(), 23),
    "openpose_coco18": ("openpose", OPENPOSE_COCO_18, OPENPOSE_TO_COCO, {"Neck": "neck"},
                        set(), 17),
    "h36m17": ("h36m", H36M_17, H36M_TO_COCO, {"Thorax": "neck"}, {"RFoot", "LFoot", "Thorax"},
               12),
    "smpl24": ("smpl", SMPL_24, SMPL_TO_COCO, {"neck": "neck"}, set(), 12),
    "dlc_human": ("dlc", DLC_HUMAN, DLC_TO_COCO, {}, set(), 17),
    "kinect25": ("kinect", KINECT_25, KINECT_TO_COCO, {"Neck": "neck"}, set(), 12),
    "mediapipe33": ("mediapipe", MEDIAPIPE_33, MEDIAPIPE_TO_COCO, {},
                    {"left_foot_index", "right_foot_index"}, 21),
}
