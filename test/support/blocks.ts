/**
 * A block's id by its place on its page, as a test names blocks ("the
 * second block of intro"); the ids themselves are digests (course/blocks.ts).
 */
import { renderPage } from '../../lab/course/render.js';
import type { Course } from '../../lab/course/schema.js';

export function blockId(course: Course, pageId: string, index: number): string {
  const page = course.pages.find((p) => p.id === pageId);
  if (!page) throw new Error(`no page "${pageId}" in the course`);
  const block = renderPage(course, page).blocks[index];
  if (!block) throw new Error(`page "${pageId}" has no block ${index}`);
  return block.id;
}
