/**
 * What the rest of the project may use of the lab engine: start a lab, check a
 * course. Everything else in lab/ is the engine's own business.
 */
export { startLab, type LabOptions, type LabServer } from './server/app.js';
export { courseCheck } from './course/check.js';
export { loadCourse } from './course/load.js';
export type { Course, CourseProblem } from './course/schema.js';
